//! `koubei.trade.ticket.ticketcode.cancel` (the seed): every business code with its trigger,
//! the check order, idempotency, and what a cancel gives back.

use serde_json::json;
use ticketgate::operations::admin;

use crate::helpers::*;

#[tokio::test]
async fn a_cancel_reverses_the_use_and_a_replay_changes_nothing() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    assert_success(&app.use_code("u1", &code).await);
    let reply = app.cancel_use("c1", "u1", &code).await;
    assert_success(&reply);
    assert_eq!(reply.node["request_id"], "c1");
    assert!(reply.node.get("biz_code").is_none());
    let q = app.query(&code).await;
    assert_eq!(q.node["ticket_status"], "EFFECTIVE");
    let kinds: Vec<_> = q.node["ticket_trans_info_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ticket_trans_type"].clone())
        .collect();
    assert_eq!(
        kinds,
        [json!("USE"), json!("CANCEL")],
        "the use stays in history; the cancel is a new fact"
    );
    let replay = app.cancel_use("c1", "u1", &code).await;
    assert_success(&replay);
    assert_eq!(replay.node["biz_code"], "BIZ_ALREADY_SUCCESS");
    assert_eq!(
        app.query(&code).await.node["ticket_trans_info_list"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    app.assert_consistent(&code).await;
}

#[tokio::test]
async fn the_seeds_example_reuses_the_use_number_as_the_cancel_number() {
    let app = TestApp::spawn().await;
    let card = app.issue_one(CARD).await;
    let id = "2016102903214476899999999";
    assert_success(
        &app.use_(json!({"request_id": id, "ticket_code": card, "shop_id": SHOP, "quantity": "2"}))
            .await,
    );
    let reply = app
        .cancel(json!({"request_id": id, "request_biz_no": id, "ticket_code": card, "quantity": "2", "code_type": "INTERNAL_CODE"}))
        .await;
    assert_success(&reply);
    assert_eq!(app.query(&card).await.node["available_quantity"], "10");
}

#[tokio::test]
async fn the_same_cancel_id_with_other_parameters_is_request_id_repeat() {
    let app = TestApp::spawn().await;
    let codes = app.issue(NORMAL, 2).await;
    assert_success(&app.use_code("u1", &codes[0]).await);
    assert_success(&app.use_code("u2", &codes[1]).await);
    assert_success(&app.cancel_use("c1", "u1", &codes[0]).await);
    assert_refused(
        &app.cancel_use("c1", "u2", &codes[1]).await,
        "REQUEST_ID_REPEAT",
    );
    let with_quantity = app.cancel(json!({"request_id": "c1", "request_biz_no": "u1", "ticket_code": codes[0], "quantity": "1"})).await;
    assert_refused(&with_quantity, "REQUEST_ID_REPEAT");
    assert_eq!(app.query(&codes[1]).await.node["ticket_status"], "USED");
}

#[tokio::test]
async fn a_use_reversed_twice_under_different_ids_is_repeat_cancel() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    assert_success(&app.use_code("u1", &code).await);
    assert_success(&app.cancel_use("c1", "u1", &code).await);
    assert_refused(&app.cancel_use("c2", "u1", &code).await, "REPEAT_CANCEL");
    app.assert_consistent(&code).await;
}

#[tokio::test]
async fn missing_or_malformed_fields_are_invalid_parameter_and_record_nothing() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    assert_success(&app.use_code("u1", &code).await);
    let cases = [
        json!({"request_biz_no": "u1", "ticket_code": code}),
        json!({"request_id": "c1", "ticket_code": code}),
        json!({"request_id": "c1", "request_biz_no": "u1"}),
        json!({"request_id": "x".repeat(33), "request_biz_no": "u1", "ticket_code": code}),
        json!({"request_id": "c1", "request_biz_no": "u".repeat(65), "ticket_code": code}),
        json!({"request_id": "c1", "request_biz_no": "u1", "ticket_code": code, "quantity": "-1"}),
        json!({"request_id": "c1", "request_biz_no": "u1", "ticket_code": code, "quantity": "12345"}),
        json!({"request_id": "c1", "request_biz_no": "u1", "ticket_code": code, "code_type": "BARCODE"}),
        json!({"request_id": "c1", "request_biz_no": "u1", "ticket_code": code, "code_type": "EXTERNAL_CODE"}),
        json!({"request_id": "c1", "request_biz_no": "u1", "ticket_code": code, "quantity": "2"}),
    ];
    for biz in cases {
        let reply = app.cancel(biz.clone()).await;
        assert_refused(&reply, "INVALID_PARAMETER");
    }
    // None of those recorded anything: c1 is still free.
    assert_success(&app.cancel_use("c1", "u1", &code).await);
}

#[tokio::test]
async fn a_times_card_cancel_needs_the_uses_quantity() {
    let app = TestApp::spawn().await;
    let card = app.issue_one(CARD).await;
    assert_success(
        &app.use_(
            json!({"request_id": "u1", "ticket_code": card, "shop_id": SHOP, "quantity": "3"}),
        )
        .await,
    );
    assert_refused(
        &app.cancel_use("c1", "u1", &card).await,
        "INVALID_PARAMETER",
    );
    let wrong = app.cancel(json!({"request_id": "c1", "request_biz_no": "u1", "ticket_code": card, "quantity": "2"})).await;
    assert_refused(&wrong, "INVALID_PARAMETER");
    assert!(wrong.field("sub_msg").contains('3'));
    let right = app
        .cancel(
            json!({"request_id": "c1", "request_biz_no": "u1", "ticket_code": card, "quantity": 3}),
        )
        .await;
    assert_success(&right);
    assert_eq!(app.query(&card).await.node["available_quantity"], "10");
    app.assert_consistent(&card).await;
}

#[tokio::test]
async fn a_cancel_without_a_matching_use_is_use_biz_order_not_exist() {
    let app = TestApp::spawn().await;
    let codes = app.issue(NORMAL, 2).await;
    assert_success(&app.use_code("u1", &codes[0]).await);
    // Unknown ticket code.
    assert_refused(
        &app.cancel_use("c1", "u1", "999999999999").await,
        "USE_BIZ_ORDER_NOT_EXIST",
    );
    // Unknown use.
    assert_refused(
        &app.cancel_use("c1", "nope", &codes[0]).await,
        "USE_BIZ_ORDER_NOT_EXIST",
    );
    // A use that exists, but of another ticket.
    assert_refused(
        &app.cancel_use("c1", "u1", &codes[1]).await,
        "USE_BIZ_ORDER_NOT_EXIST",
    );
    // Another merchant's use number is not ours to see.
    let theirs = app.issue_one(NORMAL_M2).await;
    let m2 = app.client_for(
        A2,
        ticketgate::alipay::SignType::Rsa2,
        ticketgate::alipay::Charset::Utf8,
    );
    let reply = m2
        .call(
            USE,
            &json!({"request_id": "m2u", "ticket_code": theirs, "shop_id": SHOP_M2}).to_string(),
            &[],
        )
        .await
        .unwrap();
    assert_success(&reply);
    assert_refused(
        &app.cancel_use("c1", "m2u", &codes[0]).await,
        "USE_BIZ_ORDER_NOT_EXIST",
    );
}

#[tokio::test]
async fn a_cancel_of_a_refused_use_is_use_biz_order_close() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(ONLY_SHOP2).await;
    assert_refused(&app.use_code("u1", &code).await, "SHOP_NOT_MATCH");
    assert_refused(
        &app.cancel_use("c1", "u1", &code).await,
        "USE_BIZ_ORDER_CLOSE",
    );
}

#[tokio::test]
async fn a_cancel_of_a_console_use_is_use_channel_not_equal() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let used = admin::ticket_use(app.app(), &code, None, SHOP, None, Some("console1".into()))
        .await
        .unwrap();
    assert_eq!(used["request_id"], "console1");
    assert_eq!(used["channel"], "MERCHANT_CONSOLE");
    assert_refused(
        &app.cancel_use("c1", "console1", &code).await,
        "USE_CHANNEL_NOT_EQUAL",
    );
    assert_eq!(app.query(&code).await.node["ticket_status"], "USED");
}

#[tokio::test]
async fn a_cancel_of_another_merchants_ticket_is_not_same_merchant_pid() {
    let app = TestApp::spawn().await;
    let theirs = app.issue_one(NORMAL_M2).await;
    assert_refused(
        &app.cancel_use("c1", "u1", &theirs).await,
        "NOT_SAME_MERCHANT_PID",
    );
}

#[tokio::test]
async fn a_cancel_after_a_refund_is_ticket_status_illegal() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    assert_success(&app.use_code("u1", &code).await);
    admin::ticket_refund(app.service(), &code, None)
        .await
        .unwrap();
    let reply = app.cancel_use("c1", "u1", &code).await;
    assert_refused(&reply, "TICKET_STATUS_ILLEGAL");
    assert_eq!(app.query(&code).await.node["ticket_status"], "REFUNDED");
    app.assert_consistent(&code).await;
}

#[tokio::test]
async fn checks_run_in_the_published_order() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let theirs = app.issue_one(NORMAL_M2).await;
    assert_success(&app.use_code("u1", &code).await);
    assert_success(&app.cancel_use("c1", "u1", &code).await);
    // A used cancel id beats every ticket problem: the id conflict answers first.
    assert_refused(
        &app.cancel_use("c1", "u1", &theirs).await,
        "REQUEST_ID_REPEAT",
    );
    // Fields beat the id conflict.
    let bad = app.cancel(json!({"request_id": "c1", "request_biz_no": "u1", "ticket_code": code, "quantity": "x"})).await;
    assert_refused(&bad, "INVALID_PARAMETER");
    // The ticket's merchant beats the missing use.
    assert_refused(
        &app.cancel_use("c2", "nope", &theirs).await,
        "NOT_SAME_MERCHANT_PID",
    );
    // An already reversed use beats a wrong quantity.
    let reply = app.cancel(json!({"request_id": "c3", "request_biz_no": "u1", "ticket_code": code, "quantity": "5"})).await;
    assert_refused(&reply, "REPEAT_CANCEL");
}

#[tokio::test]
async fn numeric_request_ids_beyond_two_to_the_64_stay_distinct() {
    // Sent as JSON numbers, not strings: each keeps its exact digits, so two cancels whose ids
    // differ only past 2^64 are two cancels, not a conflict.
    let app = TestApp::spawn().await;
    let codes = app.issue(NORMAL, 2).await;
    for (i, code) in codes.iter().enumerate() {
        assert_success(&app.use_code(&format!("u{i}"), code).await);
    }
    let body = |id: &str, i: usize| {
        format!(
            r#"{{"request_id":{id},"request_biz_no":"u{i}","ticket_code":"{}"}}"#,
            codes[i]
        )
    };
    let first = app
        .client()
        .call(CANCEL, &body("123456789012345678901", 0), &[])
        .await
        .unwrap();
    assert_success(&first);
    assert_eq!(first.field("request_id"), "123456789012345678901");
    let second = app
        .client()
        .call(CANCEL, &body("123456789012345678902", 1), &[])
        .await
        .unwrap();
    assert_success(&second);
    assert_eq!(second.field("request_id"), "123456789012345678902");
}
