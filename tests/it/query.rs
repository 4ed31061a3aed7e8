//! `koubei.trade.ticket.ticketcode.query`: fields, states and refusals.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_query_shows_the_ticket_as_seen_from_the_shop() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let reply = app.query(&code).await;
    assert_success(&reply);
    let n = &reply.node;
    for key in [
        "ticket_code",
        "ticket_status",
        "ticket_status_desc",
        "order_no",
        "voucher_id",
        "item_id",
        "item_name",
        "item_alias",
        "tm_item_id",
        "original_price",
        "current_price",
        "effect_date",
        "expire_date",
        "available_quantity",
        "total_quantity",
        "time_cards",
    ] {
        assert!(n[key].is_string(), "{key} is a string in {n}");
    }
    assert_eq!(n["ticket_status"], "EFFECTIVE");
    assert_eq!(n["ticket_status_desc"], "未核销，且可以在当前门店核销");
    assert_eq!(n["time_cards"], "false");
    assert_eq!(n["ticket_trans_info_list"], json!([]));
    let effect = ticketgate::alipay::time::parse(n["effect_date"].as_str().unwrap()).unwrap();
    let expire = ticketgate::alipay::time::parse(n["expire_date"].as_str().unwrap()).unwrap();
    assert_eq!(
        expire - effect,
        365 * 86_400_000,
        "no window means one year from issue"
    );
    let elsewhere = app
        .call(QUERY, json!({"ticket_code": code, "shop_id": SHOP_M2}))
        .await;
    assert_eq!(elsewhere.node["ticket_status"], "UN_EFFECTIVE");
    assert_eq!(
        elsewhere.node["ticket_status_desc"],
        "未核销，但不可以在当前门店核销"
    );
}

#[tokio::test]
async fn query_refusals() {
    let app = TestApp::spawn().await;
    let theirs = app.issue_one(NORMAL_M2).await;
    assert_refused(&app.query("12345").await, "INVALID_PARAMETER");
    assert_refused(
        &app.call(QUERY, json!({"ticket_code": theirs})).await,
        "INVALID_PARAMETER",
    );
    assert_refused(&app.query("000000000000").await, "TICKET_NOT_EXIST");
    assert_refused(&app.query(&theirs).await, "NOT_SAME_MERCHANT_PID");
}

#[tokio::test]
async fn used_and_refunded_states_read_back() {
    let app = TestApp::spawn().await;
    let codes = app.issue(NORMAL, 2).await;
    assert_success(&app.use_code("u1", &codes[0]).await);
    let used = app.query(&codes[0]).await;
    assert_eq!(used.node["ticket_status"], "USED");
    assert_eq!(used.node["ticket_status_desc"], "该券已经被消费，无法核销");
    let list = used.node["ticket_trans_info_list"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["ticket_trans_type"], "USE");
    assert_eq!(list[0]["quantity"], "1");
    ticketgate::operations::admin::ticket_refund(app.service(), &codes[1], None)
        .await
        .unwrap();
    let refunded = app.query(&codes[1]).await;
    assert_eq!(refunded.node["ticket_status"], "REFUNDED");
    assert_eq!(refunded.node["available_quantity"], "0");
}
