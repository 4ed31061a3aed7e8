//! A database written by the first release (`tests/fixtures/release-0.1`, made by that
//! release's code: uses, a cancel, closed uses) opens, migrates to one idempotency record, and
//! keeps replaying what it answered before.

use std::path::Path;

use serde_json::{Value, json};
use ticketgate::alipay::{Charset, PrivateKey, SignType};
use ticketgate::client::Client;

use crate::helpers::*;

fn fixture() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/release-0.1"
    ))
}

#[tokio::test]
async fn a_first_release_database_migrates_and_keeps_replaying() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture().join("ticketgate.db"),
        dir.path().join("ticketgate.db"),
    )
    .unwrap();
    let made: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("fixture.json")).unwrap())
            .unwrap();
    let normal: Vec<&str> = made["normal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let card = made["card"].as_str().unwrap();
    let key = PrivateKey::from_text(
        &std::fs::read_to_string(fixture().join("app_private_key.pem")).unwrap(),
    )
    .unwrap();
    // Always SQLite: the fixture is a SQLite file.
    let mut app = TestApp::unstarted(TestApp::default_limits(), dir, None);
    app.start("127.0.0.1:0").await;
    let client = Client::new(
        &app.gateway,
        A1,
        key,
        app.platform_public_key(),
        SignType::Rsa2,
        Charset::Utf8,
    );
    let call = |method: &'static str, biz: Value| {
        let client = client.clone();
        async move {
            let reply = client.call(method, &biz.to_string(), &[]).await.unwrap();
            assert!(reply.verified, "{}", reply.body);
            reply
        }
    };
    let use_biz =
        |id: &str, code: &str| json!({"request_id": id, "ticket_code": code, "shop_id": SHOP});

    // A use answered before: its original answer again.
    let replay = call(USE, use_biz("u1", normal[0])).await;
    assert_success(&replay);
    assert_eq!(replay.field("biz_code"), "BIZ_ALREADY_SUCCESS");
    assert_eq!(replay.field("ticket_code"), normal[0]);
    assert_eq!(replay.field("use_shop_name"), "一号店");
    assert_eq!(
        replay.node["ticket_use_details"][0]["buyer_pay_amount"],
        "88.00"
    );
    let query = |code: &str| json!({"ticket_code": code, "shop_id": SHOP});
    let first_use = call(QUERY, query(normal[0])).await.node["ticket_trans_info_list"][0].clone();
    assert_eq!(first_use["ticket_trans_type"], "USE");
    assert_eq!(replay.node["ticket_trans_id"], first_use["ticket_trans_id"]);
    assert_refused(
        &call(
            USE,
            json!({"request_id": "u1", "ticket_code": normal[0], "shop_id": SHOP2}),
        )
        .await,
        "REQUEST_ID_REPEAT",
    );
    assert_eq!(
        call(USE, use_biz("u3", normal[1])).await.field("biz_code"),
        "BIZ_ALREADY_SUCCESS"
    );

    // Closed uses answer their refusal again, word for word.
    let closed = call(USE, use_biz("u4", "000000000000")).await;
    assert_refused(&closed, "TICKET_NOT_EXIST");
    assert_eq!(closed.field("sub_msg"), "凭证码不存在");
    let closed = call(
        USE,
        json!({"request_id": "u5", "ticket_code": normal[2], "shop_id": SHOP, "quantity": "abc"}),
    )
    .await;
    assert_refused(&closed, "INVALID_PARAMETER");
    assert_eq!(
        closed.field("sub_msg"),
        "参数有误：quantity 必须是正整数，收到 abc"
    );

    // The cancel answered before replays; other parameters and another id are refused.
    let cancel = json!({"request_id": "c1", "request_biz_no": "u1", "ticket_code": normal[0]});
    let again = call(CANCEL, cancel.clone()).await;
    assert_success(&again);
    assert_eq!(again.field("biz_code"), "BIZ_ALREADY_SUCCESS");
    assert_eq!(again.field("request_id"), "c1");
    let mut other = cancel.clone();
    other["request_biz_no"] = "u3".into();
    assert_refused(&call(CANCEL, other).await, "REQUEST_ID_REPEAT");
    let mut repeat = cancel.clone();
    repeat["request_id"] = "c2".into();
    assert_refused(&call(CANCEL, repeat).await, "REPEAT_CANCEL");

    // The ledger carries on: the old card use is cancelled, a fresh ticket is used.
    let card_cancel =
        json!({"request_id": "c3", "request_biz_no": "u2", "ticket_code": card, "quantity": "2"});
    assert_success(&call(CANCEL, card_cancel).await);
    assert_eq!(
        call(QUERY, query(card)).await.field("available_quantity"),
        "10"
    );
    assert_success(&call(USE, use_biz("u6", normal[2])).await);
    for code in normal.iter().chain([&card]) {
        app.assert_consistent(code).await;
    }
}
