//! `koubei.trade.ticket.ticketcode.use`: every business code, replays, closed use orders,
//! times cards, sibling tickets and external codes.

use serde_json::json;
use ticketgate::operations::admin;

use crate::helpers::*;

#[tokio::test]
async fn a_use_answers_the_ticket_and_its_amounts_and_uses_it_up() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let reply = app.use_code("u1", &code).await;
    assert_success(&reply);
    let n = &reply.node;
    assert_eq!(n["request_id"], "u1");
    assert_eq!(n["ticket_code"], code.as_str());
    assert_eq!(n["item_id"], NORMAL);
    assert_eq!(n["item_alias"], "别名");
    assert_eq!(n["original_price"], "128.00");
    assert_eq!(n["current_price"], "88.00");
    assert_eq!(n["buyer_pay_amount"], "88.00");
    assert_eq!(n["discount_amount"], "40.00");
    assert_eq!(n["use_shop_id"], SHOP);
    assert_eq!(n["use_shop_name"], "一号店");
    assert!(n.get("biz_code").is_none());
    assert_eq!(n["use_date"].as_str().unwrap().len(), 19);
    assert_eq!(
        n["ticket_use_details"][0]["ticket_trans_id"],
        n["ticket_trans_id"]
    );
    let q = app.query(&code).await;
    assert_eq!(q.node["ticket_status"], "USED");
    assert_eq!(q.node["available_quantity"], "0");
    app.assert_consistent(&code).await;
}

#[tokio::test]
async fn a_replayed_use_returns_the_original_answer_even_after_a_cancel() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let first = app.use_code("u1", &code).await;
    assert_success(&first);
    assert_success(&app.cancel_use("c1", "u1", &code).await);
    let again = app.use_code("u1", &code).await;
    assert_success(&again);
    assert_eq!(again.node["biz_code"], "BIZ_ALREADY_SUCCESS");
    assert_eq!(again.node["ticket_trans_id"], first.node["ticket_trans_id"]);
    assert_eq!(again.node["use_date"], first.node["use_date"]);
    // Nothing was used again: the ticket is back to effective.
    assert_eq!(app.query(&code).await.node["ticket_status"], "EFFECTIVE");
    app.assert_consistent(&code).await;
}

#[tokio::test]
async fn the_same_request_id_with_other_parameters_is_request_id_repeat() {
    let app = TestApp::spawn().await;
    let codes = app.issue(NORMAL, 2).await;
    assert_success(&app.use_code("u1", &codes[0]).await);
    assert_refused(&app.use_code("u1", &codes[1]).await, "REQUEST_ID_REPEAT");
    let other_shop = app
        .use_(json!({"request_id": "u1", "ticket_code": codes[0], "shop_id": SHOP2}))
        .await;
    assert_refused(&other_shop, "REQUEST_ID_REPEAT");
    assert_eq!(
        app.query(&codes[1]).await.node["ticket_status"],
        "EFFECTIVE"
    );
}

#[tokio::test]
async fn malformed_fields_are_invalid_parameter() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let cases = [
        json!({"ticket_code": code, "shop_id": SHOP}),
        json!({"request_id": "has-dash", "ticket_code": code, "shop_id": SHOP}),
        json!({"request_id": "x".repeat(33), "ticket_code": code, "shop_id": SHOP}),
        json!({"request_id": "p1", "shop_id": SHOP}),
        json!({"request_id": "p2", "ticket_code": code}),
        json!({"request_id": "p3", "ticket_code": code, "shop_id": SHOP, "quantity": "0"}),
        json!({"request_id": "p4", "ticket_code": code, "shop_id": SHOP, "quantity": "two"}),
        json!({"request_id": "p5", "ticket_code": code, "shop_id": SHOP, "code_type": "QR"}),
        json!({"request_id": "p6", "ticket_code": code, "shop_id": SHOP, "code_type": "EXTERNAL_CODE"}),
        json!({"request_id": "p7", "ticket_code": code, "shop_id": SHOP, "shop_type": "MALL"}),
        json!({"request_id": "p8", "ticket_code": code, "shop_id": SHOP, "gmt_biz": "now"}),
        json!({"request_id": "p9", "ticket_code": {"a": 1}, "shop_id": SHOP}),
    ];
    for biz in cases {
        let reply = app.use_(biz.clone()).await;
        assert_refused(&reply, "INVALID_PARAMETER");
        assert!(
            reply.field("sub_msg").starts_with("参数有误："),
            "{biz}: {}",
            reply.field("sub_msg")
        );
    }
    assert_eq!(app.query(&code).await.node["ticket_status"], "EFFECTIVE");
}

#[tokio::test]
async fn a_refused_use_is_a_closed_order_that_answers_the_same_again() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    // Refused: the shop is another merchant's.
    let biz = json!({"request_id": "u1", "ticket_code": code, "shop_id": SHOP_M2});
    let first = app.use_(biz.clone()).await;
    assert_refused(&first, "SHOP_NOT_MATCH");
    // The retry gets the recorded refusal, word for word.
    let again = app.use_(biz).await;
    assert_eq!(again.node, first.node);
    // Fixing the shop under the same request id is a different request.
    assert_refused(&app.use_code("u1", &code).await, "REQUEST_ID_REPEAT");
    // A missing field after a good request id is recorded too.
    let missing = json!({"request_id": "u2", "ticket_code": code});
    assert_refused(&app.use_(missing.clone()).await, "INVALID_PARAMETER");
    assert_refused(&app.use_(missing).await, "INVALID_PARAMETER");
    // Closed orders used nothing.
    assert_success(&app.use_code("u3", &code).await);
    app.assert_consistent(&code).await;
}

#[tokio::test]
async fn unknown_and_foreign_tickets_are_refused() {
    let app = TestApp::spawn().await;
    assert_refused(
        &app.use_code("u1", "000000000000").await,
        "TICKET_NOT_EXIST",
    );
    let theirs = app.issue_one(NORMAL_M2).await;
    assert_refused(&app.use_code("u2", &theirs).await, "NOT_SAME_MERCHANT_PID");
}

#[tokio::test]
async fn used_and_refunded_tickets_are_ticket_status_illegal() {
    let app = TestApp::spawn().await;
    let codes = app.issue(NORMAL, 2).await;
    assert_success(&app.use_code("u1", &codes[0]).await);
    let reply = app.use_code("u2", &codes[0]).await;
    assert_refused(&reply, "TICKET_STATUS_ILLEGAL");
    assert!(reply.field("sub_msg").contains("USED"));
    admin::ticket_refund(app.service(), &codes[1], None)
        .await
        .unwrap();
    let reply = app.use_code("u3", &codes[1]).await;
    assert_refused(&reply, "TICKET_STATUS_ILLEGAL");
    assert!(reply.field("sub_msg").contains("REFUNDED"));
    app.assert_consistent(&codes[1]).await;
}

#[tokio::test]
async fn tickets_outside_their_window_are_not_effective() {
    let app = TestApp::spawn().await;
    for item in [FUTURE, EXPIRED] {
        let code = app.issue_one(item).await;
        assert_refused(
            &app.use_code(&format!("u{item}").replace('-', ""), &code)
                .await,
            "TICKET_NOT_EFFECTIVE",
        );
        assert_eq!(app.query(&code).await.node["ticket_status"], "UN_EFFECTIVE");
    }
}

#[tokio::test]
async fn a_ticket_is_usable_only_at_its_shops() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(ONLY_SHOP2).await;
    let reply = app.use_code("u1", &code).await;
    assert_refused(&reply, "SHOP_NOT_MATCH");
    let reply = app
        .use_(json!({"request_id": "u2", "ticket_code": code, "shop_id": "nowhere"}))
        .await;
    assert_refused(&reply, "SHOP_NOT_MATCH");
    let reply = app
        .use_(json!({"request_id": "u3", "ticket_code": code, "shop_id": SHOP2}))
        .await;
    assert_success(&reply);
    assert_eq!(reply.node["use_shop_name"], "二号店");
}

#[tokio::test]
async fn a_times_card_is_used_by_quantity_until_none_remain() {
    let app = TestApp::spawn().await;
    let card = app.issue_one(CARD).await;
    let without = app.use_code("u0", &card).await;
    assert_refused(&without, "INVALID_PARAMETER");
    let reply = app
        .use_(json!({"request_id": "u1", "ticket_code": card, "shop_id": SHOP, "quantity": 3}))
        .await;
    assert_success(&reply);
    assert_eq!(
        reply.node["buyer_pay_amount"], "90.00",
        "3 of 10 uses of a 300.00 card"
    );
    assert_eq!(reply.node["discount_amount"], "60.00");
    let q = app.query(&card).await;
    assert_eq!(q.node["available_quantity"], "7");
    assert_eq!(q.node["total_quantity"], "10");
    assert_eq!(q.node["time_cards"], "true");
    assert_eq!(q.node["ticket_status"], "EFFECTIVE");
    let too_many = app
        .use_(json!({"request_id": "u2", "ticket_code": card, "shop_id": SHOP, "quantity": "8"}))
        .await;
    assert_refused(&too_many, "QUANTITY_NOT_ENOUGH");
    assert_success(
        &app.use_(
            json!({"request_id": "u3", "ticket_code": card, "shop_id": SHOP, "quantity": "7"}),
        )
        .await,
    );
    assert_eq!(app.query(&card).await.node["ticket_status"], "USED");
    assert_refused(
        &app.use_(
            json!({"request_id": "u4", "ticket_code": card, "shop_id": SHOP, "quantity": "1"}),
        )
        .await,
        "TICKET_STATUS_ILLEGAL",
    );
    app.assert_consistent(&card).await;
}

#[tokio::test]
async fn a_multi_quantity_use_takes_sibling_tickets_of_the_same_order() {
    let app = TestApp::spawn().await;
    let codes = app.issue(NORMAL, 3).await;
    let lone = app.issue_one(NORMAL).await;
    assert_refused(
        &app.use_(json!({"request_id": "u0", "ticket_code": lone, "shop_id": SHOP, "quantity": 2}))
            .await,
        "QUANTITY_NOT_ENOUGH",
    );
    let reply = app
        .use_(json!({"request_id": "u1", "ticket_code": codes[1], "shop_id": SHOP, "quantity": 2}))
        .await;
    assert_success(&reply);
    let details = reply.node["ticket_use_details"].as_array().unwrap();
    assert_eq!(details.len(), 2);
    assert_eq!(details[0]["ticket_code"], codes[1].as_str());
    assert_eq!(details[1]["ticket_code"], codes[0].as_str());
    assert_eq!(reply.node["buyer_pay_amount"], "176.00");
    assert_eq!(app.query(&codes[0]).await.node["ticket_status"], "USED");
    assert_eq!(
        app.query(&codes[2]).await.node["ticket_status"],
        "EFFECTIVE"
    );
    assert_refused(
        &app.use_(
            json!({"request_id": "u2", "ticket_code": codes[2], "shop_id": SHOP, "quantity": 2}),
        )
        .await,
        "QUANTITY_NOT_ENOUGH",
    );
    // Cancelling the use gives both back; a quantity, when given, must be the use's.
    let wrong = app.cancel(json!({"request_id": "c0", "request_biz_no": "u1", "ticket_code": codes[1], "quantity": "1"})).await;
    assert_refused(&wrong, "INVALID_PARAMETER");
    let reply = app.cancel(json!({"request_id": "c1", "request_biz_no": "u1", "ticket_code": codes[1], "quantity": "2"})).await;
    assert_success(&reply);
    for code in &codes {
        assert_eq!(app.query(code).await.node["ticket_status"], "EFFECTIVE");
        app.assert_consistent(code).await;
    }
}

#[tokio::test]
async fn external_codes_are_named_with_their_order() {
    let app = TestApp::spawn().await;
    admin::issue_order(
        app.service(),
        NORMAL,
        1,
        Some("EXT1".into()),
        Some(vec!["ABC123".into()]),
    )
    .await
    .unwrap();
    admin::issue_order(
        app.service(),
        NORMAL,
        1,
        Some("EXT2".into()),
        Some(vec!["ABC123".into()]),
    )
    .await
    .unwrap();
    let dup = admin::issue_order(
        app.service(),
        NORMAL,
        1,
        Some("EXT1".into()),
        Some(vec!["ABC123".into()]),
    )
    .await;
    assert!(matches!(dup, Err(admin::AdminError::Duplicate(_))));
    let missing_order = app.use_(json!({"request_id": "e0", "ticket_code": "ABC123", "shop_id": SHOP, "code_type": "EXTERNAL_CODE"})).await;
    assert_refused(&missing_order, "INVALID_PARAMETER");
    let as_internal = app.use_code("e1", "ABC123").await;
    assert_refused(&as_internal, "TICKET_NOT_EXIST");
    let reply = app
        .use_(json!({"request_id": "e2", "ticket_code": "ABC123", "shop_id": SHOP, "code_type": "EXTERNAL_CODE", "order_no": "EXT1"}))
        .await;
    assert_success(&reply);
    assert_eq!(reply.node["order_no"], "EXT1");
    // The same code in the other order is untouched.
    let other = admin::ticket_show(app.service(), "ABC123", Some("EXT2".into()))
        .await
        .unwrap();
    assert_eq!(other["available_quantity"], "1");
    let cancel = app
        .cancel(json!({"request_id": "c1", "request_biz_no": "e2", "ticket_code": "ABC123", "code_type": "EXTERNAL_CODE", "order_no": "EXT1"}))
        .await;
    assert_success(&cancel);
    let shown = admin::ticket_show(app.service(), "ABC123", Some("EXT1".into()))
        .await
        .unwrap();
    assert_eq!(shown["available_quantity"], "1");
}

#[tokio::test]
async fn uses_survive_a_restart() {
    let mut app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let first = app.use_code("u1", &code).await;
    assert_success(&first);
    app.restart().await;
    assert_eq!(app.query(&code).await.node["ticket_status"], "USED");
    let again = app.use_code("u1", &code).await;
    assert_eq!(again.node["biz_code"], "BIZ_ALREADY_SUCCESS");
    assert_eq!(again.node["ticket_trans_id"], first.node["ticket_trans_id"]);
    assert_success(&app.cancel_use("c1", "u1", &code).await);
    app.restart().await;
    assert_eq!(app.query(&code).await.node["ticket_status"], "EFFECTIVE");
    assert_eq!(
        app.cancel_use("c1", "u1", &code).await.node["biz_code"],
        "BIZ_ALREADY_SUCCESS"
    );
}

/// A console use of a times card without a quantity uses one unit, as `admin ticket use`'s
/// help says `--quantity` is optional.
#[tokio::test]
async fn a_console_use_of_a_times_card_takes_one_unit_unless_told() {
    let app = TestApp::spawn().await;
    let card = app.issue_one(CARD).await;
    let used =
        ticketgate::operations::admin::ticket_use(app.service(), &card, None, SHOP, None, None)
            .await
            .unwrap();
    assert_eq!(used["channel"], "MERCHANT_CONSOLE", "{used}");
    assert_eq!(app.query(&card).await.field("available_quantity"), "9");
    let more =
        ticketgate::operations::admin::ticket_use(app.service(), &card, None, SHOP, Some(3), None)
            .await
            .unwrap();
    assert_eq!(more["channel"], "MERCHANT_CONSOLE", "{more}");
    assert_eq!(app.query(&card).await.field("available_quantity"), "6");
}
