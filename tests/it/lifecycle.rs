//! The rest of the life cycle over HTTP: refund after use, order query, and the code merchant
//! flow (send, checkavailable, sync, send.close), with their races.

use serde_json::{Value, json};
use ticketgate::alipay::{Charset, SignType};
use ticketgate::notify::worker::Outcome;
use ticketgate::operations::admin;

use crate::helpers::*;
use crate::notify::{deliverer, verified_form};
use crate::races::concurrently;
use crate::receiver::Receiver;

/// The code merchant's app (of the ISV merchant; it signs with key 0).
const CM: &str = "2021000000000055";
/// M1's item whose codes CM issues.
const CM_ITEM: &str = "item-code-merchant";

fn trans_of(reply: &Reply) -> Vec<Value> {
    reply.node["ticket_trans_info_list"]
        .as_array()
        .unwrap()
        .clone()
}

use ticketgate::client::Reply;

#[tokio::test]
async fn a_refund_after_use_points_at_the_use_and_blocks_its_cancel() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let used = app.use_code("u1", &code).await;
    assert_success(&used);
    let trans_id = used.field("ticket_trans_id").to_string();
    let refund = |rid: &str, code: &str, trans: &str| json!({"request_id": rid, "ticket_code": code, "trans_id": trans});

    // Refusals, in order, each changing nothing.
    assert_refused(
        &app.call(REFUND, refund("r0", "999999999999", &trans_id))
            .await,
        "TICKET_NOT_EXIST",
    );
    assert_refused(
        &app.call(REFUND, refund("r0", &code, "nope")).await,
        "USE_BIZ_ORDER_NOT_EXIST",
    );
    let other = app
        .call_as(A2, REFUND, refund("r0", &code, &trans_id))
        .await;
    assert_refused(&other, "NOT_SAME_MERCHANT_PID");
    assert!(
        app.call(REFUND, json!({"request_id": "r0", "ticket_code": code}))
            .await
            .sub_code()
            == "INVALID_PARAMETER"
    );
    assert_eq!(app.query(&code).await.field("ticket_status"), "USED");

    let done = app.call(REFUND, refund("r1", &code, &trans_id)).await;
    assert_success(&done);
    assert_eq!(done.field("request_id"), "r1");
    assert!(done.node.get("biz_code").is_none());
    let queried = app.query(&code).await;
    assert_eq!(queried.field("ticket_status"), "REFUNDED");
    let trans = trans_of(&queried);
    assert_eq!(trans.len(), 2);
    assert_eq!(trans[1]["ticket_trans_type"], "REFUND");
    assert_eq!(trans[1]["quantity"], "1");
    app.assert_consistent(&code).await;

    // Replay, conflict, a second refund of the same use, and the cancel it now blocks.
    let replay = app.call(REFUND, refund("r1", &code, &trans_id)).await;
    assert_success(&replay);
    assert_eq!(replay.field("biz_code"), "BIZ_ALREADY_SUCCESS");
    assert_refused(
        &app.call(REFUND, refund("r1", &code, "other")).await,
        "REQUEST_ID_REPEAT",
    );
    let again = app.call(REFUND, refund("r2", &code, &trans_id)).await;
    assert_refused(&again, "TICKET_STATUS_ILLEGAL");
    assert!(
        again.field("sub_msg").contains("已售后退"),
        "{}",
        again.body
    );
    assert_refused(
        &app.cancel_use("c1", "u1", &code).await,
        "TICKET_STATUS_ILLEGAL",
    );
    assert_eq!(trans_of(&app.query(&code).await).len(), 2);
}

#[tokio::test]
async fn a_times_card_keeps_its_uses_after_a_refund_and_a_cancelled_use_cannot_be_refunded() {
    let app = TestApp::spawn().await;
    let card = app.issue_one(CARD).await;
    let use_q = |rid: &str, q: &str| json!({"request_id": rid, "ticket_code": card, "shop_id": SHOP, "quantity": q});
    let first = app.use_(use_q("u1", "3")).await;
    assert_success(&first);
    let second = app.use_(use_q("u2", "2")).await;
    assert_success(&second);
    assert_success(
        &app.cancel(json!({"request_id": "c2", "request_biz_no": "u2", "ticket_code": card, "quantity": "2"}))
            .await,
    );
    let cancelled = app
        .call(REFUND, json!({"request_id": "r2", "ticket_code": card, "trans_id": second.field("ticket_trans_id")}))
        .await;
    assert_refused(&cancelled, "TICKET_STATUS_ILLEGAL");
    assert!(
        cancelled.field("sub_msg").contains("已撤销"),
        "{}",
        cancelled.body
    );

    let refunded = app
        .call(REFUND, json!({"request_id": "r1", "ticket_code": card, "trans_id": first.field("ticket_trans_id")}))
        .await;
    assert_success(&refunded);
    let queried = app.query(&card).await;
    assert_eq!(queried.field("ticket_status"), "EFFECTIVE");
    assert_eq!(queried.field("available_quantity"), "7");
    let kinds: Vec<Value> = trans_of(&queried)
        .iter()
        .map(|t| t["ticket_trans_type"].clone())
        .collect();
    assert_eq!(kinds, ["USE", "USE", "CANCEL", "REFUND"]);
    app.assert_consistent(&card).await;
    assert_refused(
        &app.cancel(json!({"request_id": "c1", "request_biz_no": "u1", "ticket_code": card, "quantity": "3"}))
            .await,
        "TICKET_STATUS_ILLEGAL",
    );
    // The card's remaining uses still work.
    assert_success(&app.use_(use_q("u3", "7")).await);
    app.assert_consistent(&card).await;
}

#[tokio::test]
async fn two_refunds_of_one_use_make_one_refund() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let used = app.use_code("u1", &code).await;
    let trans_id = used.field("ticket_trans_id").to_string();
    let bodies = (0..8)
        .map(|i| json!({"request_id": format!("r{i}"), "ticket_code": code, "trans_id": trans_id}))
        .collect();
    let clients: Vec<_> = (0..4).map(|_| app.client()).collect();
    let tally = concurrently(&clients, REFUND, bodies).await;
    assert_eq!(tally.get("10000 "), Some(&1), "{tally:?}");
    assert_eq!(
        tally.get("40004 TICKET_STATUS_ILLEGAL"),
        Some(&7),
        "{tally:?}"
    );
    let refunds = trans_of(&app.query(&code).await)
        .iter()
        .filter(|t| t["ticket_trans_type"] == "REFUND")
        .count();
    assert_eq!(refunds, 1);
    app.assert_consistent(&code).await;
}

#[tokio::test]
async fn an_order_query_shows_vouchers_counts_and_status() {
    let app = TestApp::spawn().await;
    let codes = app.issue(NORMAL, 2).await;
    let order_no = app.order_of(&codes[0]).await;
    async fn order(app: &TestApp, no: &str) -> Reply {
        app.call(ORDER_QUERY, json!({ "order_no": no })).await
    }
    let fresh = order(&app, &order_no).await;
    assert_success(&fresh);
    assert_eq!(fresh.field("order_no"), order_no);
    assert_eq!(fresh.field("partner_id"), M1);
    assert_eq!(fresh.field("status"), "PAY");
    assert_eq!(fresh.field("total_amount"), "176.00");
    let vouchers = fresh.node["vouchers"].as_array().unwrap();
    assert_eq!(vouchers.len(), 2);
    assert_eq!(vouchers[0]["status"], "EFFECTIVE");
    assert_eq!(vouchers[0]["ticket_effect_count"], "1");
    assert_eq!(vouchers[0]["ticket_used_count"], "0");

    assert_success(&app.use_code("u1", &codes[0]).await);
    assert_eq!(order(&app, &order_no).await.field("status"), "PAY");
    let used = app.use_code("u2", &codes[1]).await;
    let finished = order(&app, &order_no).await;
    assert_eq!(finished.field("status"), "FINISH");
    assert_eq!(finished.node["vouchers"][1]["ticket_used_count"], "1");
    assert_success(
        &app.call(REFUND, json!({"request_id": "r1", "ticket_code": codes[1], "trans_id": used.field("ticket_trans_id")}))
            .await,
    );
    let after = order(&app, &order_no).await;
    assert_eq!(after.field("status"), "FINISH");
    let refunded = after.node["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["status"] == "REFUNDED")
        .unwrap()
        .clone();
    assert_eq!(refunded["ticket_refunded_count"], "1");
    assert_eq!(refunded["refund_type"], "ROLE_USER");

    // Every ticket refunded before use: CLOSE.
    let other = app.issue(NORMAL, 2).await;
    for code in &other {
        admin::ticket_refund(app.service(), code, None)
            .await
            .unwrap();
    }
    let closed = order(&app, &app.order_of(&other[0]).await).await;
    assert_eq!(closed.field("status"), "CLOSE");

    assert_refused(&order(&app, "nope").await, "ORDER_NOT_EXIST");
    let theirs = app
        .call_as(A2, ORDER_QUERY, json!({ "order_no": order_no }))
        .await;
    assert_refused(&theirs, "NOT_SAME_MERCHANT_PID");
    assert_eq!(
        app.call(ORDER_QUERY, json!({})).await.sub_code(),
        "INVALID_PARAMETER"
    );
}

/// The code merchant app (with `notify_url`, if given) and M1's item it fulfils.
async fn code_merchant(app: &TestApp, notify_url: Option<&str>) {
    add_code_merchant(app, CM, CM_ITEM, notify_url).await;
}

/// An order of `n` tickets of the code merchant's item: (order_no, send_order_no, send_token).
async fn awaiting(app: &TestApp, n: usize) -> (String, String, String) {
    let out = admin::issue_order(app.service(), CM_ITEM, n, None, None)
        .await
        .unwrap();
    assert_eq!(out["tickets"], json!([]), "{out}");
    let s = |k: &str| out[k].as_str().unwrap().to_string();
    (s("order_no"), s("send_order_no"), s("send_token"))
}

#[tokio::test]
async fn a_code_merchant_receives_an_order_and_sends_its_codes() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    code_merchant(&app, Some(&receiver.url)).await;
    let (order_no, send_no, token) = awaiting(&app, 3).await;

    // The send notification, signed, to the code merchant's app.
    let now = ticketgate::clock::system_now_ms();
    assert!(matches!(
        deliverer(&app, 2000).deliver_next(now).await.unwrap(),
        Outcome::Delivered { .. }
    ));
    let form = verified_form(&app, &receiver.last(), Charset::Utf8, SignType::Rsa2);
    assert_eq!(form["notify_type"], "koubei_ticket_send_notify");
    assert_eq!(form["app_id"], CM);
    assert_eq!(form["order_no"], order_no);
    assert_eq!(form["send_order_no"], send_no);
    assert_eq!(form["send_token"], token);
    assert_eq!(form["item_id"], CM_ITEM);
    assert_eq!(form["quantity"], "3");

    let order = app.call(ORDER_QUERY, json!({ "order_no": order_no })).await;
    assert_eq!(order.field("status"), "PAY", "awaiting codes");
    assert_eq!(order.node["vouchers"], json!([]));

    let send = |rid: &str, list: Value, token: &str| {
        json!({"request_id": rid, "order_no": order_no, "send_order_no": send_no,
               "send_token": token, "isv_ma_list": list})
    };
    let two = json!([{"code": "EXT001", "num": 1}, {"code": "EXT002", "num": 5}]);
    // Refusals, in order, each changing nothing.
    assert_refused(
        &app.call_as(CM, SEND, json!({"request_id": "s0", "order_no": "nope", "send_order_no": send_no, "send_token": token, "isv_ma_list": two})).await,
        "ORDER_NOT_EXIST",
    );
    assert_refused(
        &app.call_as(A1, SEND, send("s0", two.clone(), &token)).await,
        "NOT_SAME_MERCHANT_PID",
    );
    let wrong = app.call_as(CM, SEND, send("s0", two.clone(), "bad")).await;
    assert_refused(&wrong, "INVALID_PARAMETER");
    assert!(wrong.field("sub_msg").contains("send_token"));
    let dup = json!([{"code": "EXT001", "num": 1}, {"code": "EXT001", "num": 1}]);
    assert_refused(
        &app.call_as(CM, SEND, send("s0", dup, &token)).await,
        "INVALID_PARAMETER",
    );
    let zero = json!([{"code": "EXT001", "num": 0}]);
    assert_refused(
        &app.call_as(CM, SEND, send("s0", zero, &token)).await,
        "INVALID_PARAMETER",
    );

    let sent = app.call_as(CM, SEND, send("s1", two.clone(), &token)).await;
    assert_success(&sent);
    assert_eq!(sent.field("request_id"), "s1");
    let replay = app.call_as(CM, SEND, send("s1", two.clone(), &token)).await;
    assert_eq!(replay.field("biz_code"), "BIZ_ALREADY_SUCCESS");
    assert_refused(
        &app.call_as(
            CM,
            SEND,
            send("s1", json!([{"code": "EXT009", "num": 1}]), &token),
        )
        .await,
        "REQUEST_ID_REPEAT",
    );
    let again = app
        .call_as(
            CM,
            SEND,
            send("s2", json!([{"code": "EXT002", "num": 1}]), &token),
        )
        .await;
    assert_refused(&again, "INVALID_PARAMETER");
    assert!(again.field("sub_msg").contains("EXT002"), "{}", again.body);
    let too_many = json!([{"code": "EXT003", "num": 1}, {"code": "EXT004", "num": 1}]);
    assert_refused(
        &app.call_as(CM, SEND, send("s3", too_many, &token)).await,
        "INVALID_PARAMETER",
    );

    // The codes are EXTERNAL_CODE tickets of the order; the shop uses one.
    let shown = admin::ticket_show(app.service(), "EXT002", Some(order_no.clone()))
        .await
        .unwrap();
    assert_eq!(shown["code_type"], "EXTERNAL_CODE");
    assert_eq!(shown["total_quantity"], "5");
    assert_eq!(shown["time_cards"], "true");
    let use_ext = json!({"request_id": "u1", "ticket_code": "EXT001", "shop_id": SHOP,
                         "code_type": "EXTERNAL_CODE", "order_no": order_no});
    assert_success(&app.use_(use_ext).await);

    // checkavailable answers as a use would, and changes nothing.
    let check = |code: &str, shop: &str, q: Option<&str>| {
        let mut b = json!({"order_no": order_no, "send_order_no": send_no, "send_token": token,
                           "ticket_code": code, "shop_id": shop, "request_id": "k1"});
        if let Some(q) = q {
            b["quantity"] = q.into();
        }
        b
    };
    assert_success(
        &app.call_as(CM, CHECK, check("EXT002", SHOP, Some("2")))
            .await,
    );
    assert_refused(
        &app.call_as(CM, CHECK, check("EXT001", SHOP, None)).await,
        "TICKET_STATUS_ILLEGAL",
    );
    assert_refused(
        &app.call_as(CM, CHECK, check("EXT002", "nowhere", Some("1")))
            .await,
        "SHOP_NOT_MATCH",
    );
    assert_refused(
        &app.call_as(CM, CHECK, check("EXT002", SHOP, Some("6")))
            .await,
        "QUANTITY_NOT_ENOUGH",
    );
    assert_refused(
        &app.call_as(CM, CHECK, check("EXT404", SHOP, None)).await,
        "TICKET_NOT_EXIST",
    );
    assert_refused(
        &app.call_as(A1, CHECK, check("EXT002", SHOP, None)).await,
        "NOT_SAME_MERCHANT_PID",
    );
    let before = admin::ticket_show(app.service(), "EXT002", Some(order_no.clone()))
        .await
        .unwrap();
    assert_eq!(before["available_quantity"], "5");
    assert_eq!(before["ticket_trans_info_list"], json!([]));

    // sync: the code merchant reports what happened in its own system.
    let sync = |rid: &str, code: &str, q: &str| {
        json!({"request_id": rid, "ticket_code": code, "code_type": "EXTERNAL_CODE",
               "order_no": order_no, "quantity": q, "sync_shop_id": SHOP,
               "gmt_biz": "2026-11-30 12:00:00"})
    };
    let synced = app.call_as(CM, SYNC, sync("y1", "EXT002", "3")).await;
    assert_success(&synced);
    assert_eq!(
        synced.node["request_id"],
        json!(["y1"]),
        "a JSON array: {}",
        synced.body
    );
    assert_eq!(synced.field("order_no"), order_no);
    let replay = app.call_as(CM, SYNC, sync("y1", "EXT002", "3")).await;
    assert_eq!(replay.field("biz_code"), "BIZ_ALREADY_SUCCESS");
    assert_eq!(replay.node["request_id"], json!(["y1"]));
    assert_refused(
        &app.call_as(CM, SYNC, sync("y1", "EXT002", "2")).await,
        "REQUEST_ID_REPEAT",
    );
    assert_success(&app.call_as(CM, SYNC, sync("y2", "EXT002", "4")).await);
    assert_refused(
        &app.call_as(CM, SYNC, sync("y3", "EXT002", "6")).await,
        "INVALID_PARAMETER",
    );
    assert_refused(
        &app.call_as(A1, SYNC, sync("y3", "EXT002", "1")).await,
        "NOT_SAME_MERCHANT_PID",
    );
    assert_success(&app.call_as(CM, SYNC, sync("y4", "EXT002", "4")).await);
    // Each sync that changed something sent what a use or a cancel sends, to the caller's app.
    let d = deliverer(&app, 2000);
    for (biz_type, request_id, quantity) in
        [("TICKET_USE", "y1", "2"), ("TICKET_CANCEL", "y2", "1")]
    {
        let now = ticketgate::clock::system_now_ms();
        assert!(matches!(
            d.deliver_next(now).await.unwrap(),
            Outcome::Delivered { .. }
        ));
        let form = verified_form(&app, &receiver.last(), Charset::Utf8, SignType::Rsa2);
        assert_eq!(form["notify_type"], "koubei_ticket_openapi_use_notify");
        assert_eq!(
            (
                form["biz_type"].as_str(),
                form["request_id"].as_str(),
                form["quantity"].as_str()
            ),
            (biz_type, request_id, quantity)
        );
        assert_eq!(form["ticket_code"], "EXT002");
        assert_eq!(form["order_no"], order_no);
    }
    let now = ticketgate::clock::system_now_ms();
    assert!(
        matches!(d.deliver_next(now).await.unwrap(), Outcome::Idle { .. }),
        "y4 changed nothing"
    );
    let shown = app.assert_consistent_external("EXT002", &order_no).await;
    assert_eq!(shown["available_quantity"], "4");
    let kinds: Vec<Value> = shown["ticket_trans_info_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ticket_trans_type"].clone())
        .collect();
    assert_eq!(
        kinds,
        ["USE", "CANCEL"],
        "a sync that changes nothing records nothing"
    );
    // The shop's use of EXT001 is given back by the code merchant.
    assert_success(&app.call_as(CM, SYNC, sync("y5", "EXT001", "1")).await);
    app.assert_consistent_external("EXT001", &order_no).await;

    // send.close: the ticket never sent is refunded; no more codes.
    let close = |rid: &str| {
        json!({"request_id": rid, "order_no": order_no, "send_order_no": send_no,
               "send_token": token, "reason": "停止发码"})
    };
    assert_refused(
        &app.call_as(A1, SEND_CLOSE, close("x1")).await,
        "NOT_SAME_MERCHANT_PID",
    );
    assert_success(&app.call_as(CM, SEND_CLOSE, close("x1")).await);
    assert_eq!(
        app.call_as(CM, SEND_CLOSE, close("x1"))
            .await
            .field("biz_code"),
        "BIZ_ALREADY_SUCCESS"
    );
    assert_refused(
        &app.call_as(CM, SEND_CLOSE, close("x2")).await,
        "SEND_ORDER_CLOSED",
    );
    assert_refused(
        &app.call_as(
            CM,
            SEND,
            send("s4", json!([{"code": "EXT005", "num": 1}]), &token),
        )
        .await,
        "SEND_ORDER_CLOSED",
    );
    let order = app.call(ORDER_QUERY, json!({ "order_no": order_no })).await;
    assert_eq!(order.field("status"), "PAY", "two codes are still usable");
    assert_eq!(order.node["vouchers"].as_array().unwrap().len(), 2);
    assert_eq!(order.field("total_amount"), "30.00");
}

#[tokio::test]
async fn concurrent_sends_of_the_same_codes_register_them_once() {
    let app = TestApp::spawn().await;
    code_merchant(&app, None).await;
    let (order_no, send_no, token) = awaiting(&app, 10).await;
    let bodies = (0..8)
        .map(|i| {
            json!({"request_id": format!("s{i}"), "order_no": order_no, "send_order_no": send_no,
                   "send_token": token, "isv_ma_list": [{"code": "RACE1", "num": 1}, {"code": "RACE2", "num": 2}]})
        })
        .collect();
    let cm = app.client_for(CM, SignType::Rsa2, Charset::Utf8);
    let tally = concurrently(&[cm.clone(), cm], SEND, bodies).await;
    assert_eq!(tally.get("10000 "), Some(&1), "{tally:?}");
    assert_eq!(tally.get("40004 INVALID_PARAMETER"), Some(&7), "{tally:?}");
    let order = app.call(ORDER_QUERY, json!({ "order_no": order_no })).await;
    assert_eq!(order.node["vouchers"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_sync_racing_a_use_of_one_code_uses_it_once() {
    let app = TestApp::spawn().await;
    code_merchant(&app, None).await;
    for round in 0..4 {
        let (order_no, send_no, token) = awaiting(&app, 1).await;
        let code = format!("R{round}");
        assert_success(
            &app.call_as(CM, SEND, json!({"request_id": format!("s{round}"), "order_no": order_no,
                "send_order_no": send_no, "send_token": token, "isv_ma_list": [{"code": code, "num": 1}]}))
                .await,
        );
        let use_it = app.use_(
            json!({"request_id": format!("u{round}"), "ticket_code": code, "shop_id": SHOP,
                                     "code_type": "EXTERNAL_CODE", "order_no": order_no}),
        );
        let sync_it = app.call_as(CM, SYNC, json!({"request_id": format!("y{round}"), "ticket_code": code,
                                     "code_type": "EXTERNAL_CODE", "order_no": order_no, "quantity": "0"}));
        let (used, synced) = tokio::join!(use_it, sync_it);
        assert_success(&synced);
        let shown = app.assert_consistent_external(&code, &order_no).await;
        let uses = shown["ticket_trans_info_list"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["ticket_trans_type"] == "USE")
            .count();
        assert_eq!(uses, 1, "use {} / sync {}: {shown}", used.body, synced.body);
        assert_eq!(shown["available_quantity"], "0");
    }
}

/// The shortest sequence that once broke the books: a use of an external code, a sync that
/// gives that unit back, then a refund of the same use. The sync's cancel names the use it
/// reverses, so the refund is refused and changes nothing; a gateway cancel of it is a repeat.
#[tokio::test]
async fn a_use_given_back_by_a_sync_cannot_be_refunded_or_cancelled() {
    let app = TestApp::spawn().await;
    code_merchant(&app, None).await;
    let (order_no, send_no, token) = awaiting(&app, 1).await;
    let sent = json!({"request_id": "s1", "order_no": order_no, "send_order_no": send_no,
                      "send_token": token, "isv_ma_list": [{"code": "EXT001", "num": 1}]});
    assert_success(&app.call_as(CM, SEND, sent).await);
    let used = app
        .use_(
            json!({"request_id": "u1", "ticket_code": "EXT001", "shop_id": SHOP,
                     "code_type": "EXTERNAL_CODE", "order_no": order_no}),
        )
        .await;
    assert_success(&used);
    let use_id = used.field("ticket_trans_id");
    let sync = json!({"request_id": "y1", "ticket_code": "EXT001", "code_type": "EXTERNAL_CODE",
                      "order_no": order_no, "quantity": "1"});
    assert_success(&app.call_as(CM, SYNC, sync).await);
    let after_sync = app.assert_consistent_external("EXT001", &order_no).await;
    let list = after_sync["ticket_trans_info_list"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(list.len(), 2, "{after_sync}");
    assert_eq!(after_sync["ticket_status"], "EFFECTIVE");

    let refund = app
        .call(
            REFUND,
            json!({"request_id": "r1", "ticket_code": "EXT001", "trans_id": use_id}),
        )
        .await;
    assert_refused(&refund, "TICKET_STATUS_ILLEGAL");
    let cancel = app
        .cancel(
            json!({"request_id": "c1", "request_biz_no": "u1", "ticket_code": "EXT001",
                       "code_type": "EXTERNAL_CODE", "order_no": order_no}),
        )
        .await;
    assert_refused(&cancel, "REPEAT_CANCEL");
    let now = app.assert_consistent_external("EXT001", &order_no).await;
    assert_eq!(now["ticket_status"], "EFFECTIVE", "nothing changed: {now}");
    assert_eq!(now["ticket_trans_info_list"].as_array().unwrap(), &list);
    assert_eq!(now["refunded"], false);
}

/// `checkavailable` with `quantity` > 1 on a normal external code answers for the units asked
/// across the order's tickets, as a use would take them.
#[tokio::test]
async fn checkavailable_counts_the_orders_tickets_for_a_quantity() {
    let app = TestApp::spawn().await;
    code_merchant(&app, None).await;
    let (order_no, send_no, token) = awaiting(&app, 2).await;
    let sent = json!({"request_id": "s1", "order_no": order_no, "send_order_no": send_no,
                      "send_token": token,
                      "isv_ma_list": [{"code": "EXT001", "num": 1}, {"code": "EXT002", "num": 1}]});
    assert_success(&app.call_as(CM, SEND, sent).await);
    let check = |q: &str| {
        json!({"order_no": order_no, "send_order_no": send_no, "send_token": token,
               "ticket_code": "EXT001", "shop_id": SHOP, "quantity": q})
    };
    assert_success(&app.call_as(CM, CHECK, check("2")).await);
    assert_refused(
        &app.call_as(CM, CHECK, check("3")).await,
        "QUANTITY_NOT_ENOUGH",
    );
    assert_success(
        &app.use_(
            json!({"request_id": "u2", "ticket_code": "EXT002", "shop_id": SHOP,
                         "code_type": "EXTERNAL_CODE", "order_no": order_no}),
        )
        .await,
    );
    assert_refused(
        &app.call_as(CM, CHECK, check("2")).await,
        "QUANTITY_NOT_ENOUGH",
    );
    assert_success(&app.call_as(CM, CHECK, check("1")).await);
}
