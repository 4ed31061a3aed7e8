//! The code merchant flow's decisions, call by call: send, check, sync and close.

use super::*;
use crate::ledger::Ticket;
use crate::ledger::fixtures::{self, M};
const CM: &str = "2021000000000009";

fn send_order(closed: bool, sent: i64) -> SendOrder {
    SendOrder {
        send_order_no: "S1".into(),
        order_no: "O1".into(),
        merchant_pid: M.into(),
        item_id: "i1".into(),
        app_id: CM.into(),
        send_token: "T".into(),
        quantity: 3,
        sent,
        refunded: 0,
        closed_at: closed.then_some(1),
        close_reason: None,
        created_at: 0,
    }
}

fn biz(v: Value) -> Biz {
    Biz::parse(&v.to_string()).unwrap()
}

fn send_req(order: &str, send_no: &str, token: &str, list: Value) -> SendRequest {
    parse_send(&biz(
        json!({"request_id": "s1", "order_no": order, "send_order_no": send_no,
                           "send_token": token, "isv_ma_list": list}),
    ))
    .unwrap()
}

fn code(c: &str) -> Value {
    json!([{ "code": c, "num": 1 }])
}

#[test]
fn send_refusals_in_their_order() {
    let cm = AppId::trusted(CM);
    let other = AppId::trusted("2021000000000001");
    let open = send_order(false, 0);
    let closed = send_order(true, 0);
    let full = send_order(false, 3);
    let good = send_req("O1", "S1", "T", code("A1"));
    let sub = |r: Result<&SendOrder, Refusal>| r.map(|_| ()).map_err(|e| e.sub_code().to_string());
    let err = |s: &str| Err(s.to_string());
    assert_eq!(
        sub(decide_send(&cm, &good, None, &[])),
        err("ORDER_NOT_EXIST")
    );
    let elsewhere = send_req("O1", "S2", "T", code("A1"));
    assert_eq!(
        sub(decide_send(&cm, &elsewhere, Some(&open), &[])),
        err("ORDER_NOT_EXIST")
    );
    assert_eq!(
        sub(decide_send(&other, &good, Some(&open), &[])),
        err("NOT_SAME_MERCHANT_PID")
    );
    let token = send_req("O1", "S1", "X", code("A1"));
    // The app is checked before the token; the token before the state.
    assert_eq!(
        sub(decide_send(&other, &token, Some(&closed), &[])),
        err("NOT_SAME_MERCHANT_PID")
    );
    assert_eq!(
        sub(decide_send(&cm, &token, Some(&closed), &[])),
        err("INVALID_PARAMETER")
    );
    assert_eq!(
        sub(decide_send(&cm, &good, Some(&closed), &[])),
        err("SEND_ORDER_CLOSED")
    );
    assert_eq!(
        sub(decide_send(&cm, &good, Some(&open), &["A1".to_string()])),
        err("INVALID_PARAMETER")
    );
    assert_eq!(
        sub(decide_send(&cm, &good, Some(&full), &[])),
        err("INVALID_PARAMETER")
    );
    assert_eq!(sub(decide_send(&cm, &good, Some(&open), &[])), Ok(()));
}

#[test]
fn isv_code_lists_are_read_strictly() {
    let read = |list: Value| {
        parse_send(&biz(
            json!({"request_id": "s1", "order_no": "O1", "send_order_no": "S1",
                               "send_token": "T", "isv_ma_list": list}),
        ))
    };
    let ok = read(json!([{"code": "A1", "num": "2"}, {"code": "B2", "num": 1}])).unwrap();
    assert_eq!(
        ok.codes,
        [
            IsvCode {
                code: "A1".into(),
                num: 2
            },
            IsvCode {
                code: "B2".into(),
                num: 1
            }
        ]
    );
    // A list sent as JSON text reads the same.
    let text = read(json!(r#"[{"code":"A1","num":2},{"code":"B2","num":1}]"#)).unwrap();
    assert_eq!(text.fingerprint(), ok.fingerprint());
    for bad in [
        json!([]),
        json!({}),
        json!([{"code": "A1"}]),
        json!([{"code": "A1", "num": 0}]),
        json!([{"code": "A1", "num": 10000}]),
        json!([{"code": "", "num": 1}]),
        json!([{"code": "A-1", "num": 1}]),
        json!([{"code": "A1", "num": 1}, {"code": "A1", "num": 1}]),
        json!(["A1"]),
    ] {
        assert!(
            matches!(read(bad.clone()), Err(Refusal::InvalidParameter(_))),
            "{bad}"
        );
    }
    let late = parse_send(&biz(
        json!({"request_id": "s1", "order_no": "O1", "send_order_no": "S1",
        "send_token": "T", "isv_ma_list": [{"code": "A1", "num": 1}],
        "valid_start": "2030-01-02 00:00:00", "valid_end": "2030-01-01 00:00:00"}),
    ));
    assert!(matches!(late, Err(Refusal::InvalidParameter(_))));
}

fn view(total: i64, available: i64, refunded: bool) -> TicketView {
    fixtures::view(
        Ticket {
            voucher_id: "v1".into(),
            code_type: CodeType::External,
            order_no: "O1".into(),
            refunded,
            effect_at: 0,
            expire_at: i64::MAX,
            ..fixtures::ticket("A1", total, available)
        },
        fixtures::item(None, None),
    )
}

fn trans(id: &str, kind: TransKind, quantity: i64, reverses: Option<&str>, at: i64) -> Trans {
    Trans {
        trans_id: id.into(),
        voucher_id: "v1".into(),
        kind,
        quantity,
        use_order_id: None,
        reverses_trans_id: reverses.map(Into::into),
        expire_change: None,
        created_at: at,
    }
}

fn sync_req(q: &str) -> SyncRequest {
    parse_sync(&biz(
        json!({"request_id": "y1", "ticket_code": "A1", "code_type": "EXTERNAL_CODE",
                           "order_no": "O1", "quantity": q}),
    ))
    .unwrap()
}

#[test]
fn a_sync_becomes_the_difference_as_use_or_cancel() {
    let cm = AppId::trusted(CM);
    let send = send_order(false, 1);
    let card = view(5, 5, false);
    let known = ShopFacts {
        shop_id: "s".into(),
        known: true,
        name: None,
    };
    let unknown = ShopFacts {
        shop_id: "x".into(),
        known: false,
        name: None,
    };
    let sync = |req: &SyncRequest,
                v: Option<&TicketView>,
                app: &AppId,
                shop: Option<&ShopFacts>,
                h: &[Trans]| { decide_sync(app, req, v, Some(&send), shop, h) };
    assert_eq!(
        sync(&sync_req("3"), Some(&card), &cm, Some(&known), &[]),
        Ok(SyncChange::Use(2))
    );
    assert_eq!(
        sync(&sync_req("5"), Some(&card), &cm, None, &[]),
        Ok(SyncChange::None)
    );
    // Units given back reverse the newest standing uses, whole, each named.
    let part = view(5, 2, false);
    let uses = [
        trans("u1", TransKind::Use, 1, None, 1),
        trans("u2", TransKind::Use, 2, None, 2),
    ];
    assert_eq!(
        sync(&sync_req("4"), Some(&part), &cm, None, &uses),
        Ok(SyncChange::Cancel(vec![("u2".into(), 2)]))
    );
    assert_eq!(
        sync(&sync_req("5"), Some(&part), &cm, None, &uses),
        Ok(SyncChange::Cancel(vec![("u2".into(), 2), ("u1".into(), 1)]))
    );
    assert_eq!(
        sync(&sync_req("3"), Some(&part), &cm, None, &uses),
        Ok(SyncChange::Cancel(vec![("u2".into(), 1)])),
        "one unit of a two-unit use"
    );
    let half = [
        uses[0].clone(),
        uses[1].clone(),
        trans("c1", TransKind::Cancel, 1, Some("u2"), 3),
    ];
    assert_eq!(
        sync(&sync_req("5"), Some(&view(5, 3, false)), &cm, None, &half),
        Ok(SyncChange::Cancel(vec![("u2".into(), 1), ("u1".into(), 1)])),
        "what is left of a use partly given back, then the next"
    );
    assert!(
        matches!(
            sync(&sync_req("4"), Some(&part), &cm, None, &[]),
            Err(Refusal::InvalidParameter(_))
        ),
        "units given back with no use to reverse"
    );
    // Refusals, in order.
    assert_eq!(
        sync(&sync_req("3"), None, &cm, None, &[]),
        Err(Refusal::TicketNotExist)
    );
    let other = AppId::trusted("2021000000000001");
    assert_eq!(
        sync(&sync_req("3"), Some(&card), &other, None, &[]),
        Err(Refusal::NotSameMerchantPid)
    );
    assert_eq!(
        decide_sync(&cm, &sync_req("3"), Some(&card), None, None, &[]),
        Err(Refusal::NotSameMerchantPid),
        "not an order of a code merchant"
    );
    let refunded = view(1, 0, true);
    assert!(matches!(
        sync(&sync_req("1"), Some(&refunded), &cm, None, &[]),
        Err(Refusal::TicketStatusIllegal(TicketStatus::Refunded))
    ));
    assert!(matches!(
        sync(&sync_req("3"), Some(&card), &cm, Some(&unknown), &[]),
        Err(Refusal::ShopNotMatch(_))
    ));
    assert!(matches!(
        sync(&sync_req("6"), Some(&card), &cm, None, &[]),
        Err(Refusal::InvalidParameter(_))
    ));
    // A use refunded after use (or cancelled) cannot come back.
    let used = view(5, 1, false);
    let history = [
        trans("u1", TransKind::Use, 2, None, 1),
        trans("f1", TransKind::Refund, 2, Some("u1"), 2),
        trans("u2", TransKind::Use, 2, None, 3),
    ];
    assert_eq!(
        sync(&sync_req("3"), Some(&used), &cm, None, &history),
        Ok(SyncChange::Cancel(vec![("u2".into(), 2)]))
    );
    assert!(matches!(
        sync(&sync_req("5"), Some(&used), &cm, None, &history),
        Err(Refusal::InvalidParameter(_))
    ));
    let cancelled = [
        trans("u1", TransKind::Use, 1, None, 1),
        trans("c1", TransKind::Cancel, 1, Some("u1"), 2),
    ];
    assert!(matches!(
        sync(
            &sync_req("5"),
            Some(&view(5, 4, false)),
            &cm,
            None,
            &cancelled
        ),
        Err(Refusal::InvalidParameter(_))
    ));
    for bad in ["-1", "1.5", "x", ""] {
        let parsed = parse_sync(&biz(
            json!({"request_id": "y1", "ticket_code": "A1", "quantity": bad}),
        ));
        assert!(matches!(parsed, Err(Refusal::InvalidParameter(_))), "{bad}");
    }
    assert_eq!(sync_req("0").quantity, 0, "zero is a quantity here");
}

#[test]
fn checks_and_closes() {
    let cm = AppId::trusted(CM);
    let open = send_order(false, 1);
    let req = |code: &str, q: Option<&str>| {
        let mut b = json!({"order_no": "O1", "send_order_no": "S1", "send_token": "T",
                           "ticket_code": code, "shop_id": "s"});
        if let Some(q) = q {
            b["quantity"] = q.into();
        }
        parse_check(&biz(b)).unwrap()
    };
    let shop = ShopFacts {
        shop_id: "s".into(),
        known: true,
        name: None,
    };
    let card = view(5, 2, false);
    let normal = view(1, 1, false);
    let used = view(1, 0, false);
    let check = |r: &CheckRequest, v: Option<&TicketView>| {
        decide_check(&cm, r, Some(&open), v, &shop, &[], 10).map_err(|e| e.sub_code().to_string())
    };
    assert_eq!(check(&req("A1", Some("2")), Some(&card)), Ok(()));
    assert_eq!(
        check(&req("A1", Some("3")), Some(&card)),
        Err("QUANTITY_NOT_ENOUGH".into())
    );
    assert_eq!(check(&req("A1", None), Some(&normal)), Ok(()));
    // A normal ticket and quantity 2: answered across the order's usable tickets, as a use.
    assert_eq!(
        check(&req("A1", Some("2")), Some(&normal)),
        Err("QUANTITY_NOT_ENOUGH".into()),
        "no other usable ticket in the order"
    );
    let mut card_sibling = card.ticket.clone();
    card_sibling.voucher_id = "v3".into();
    assert_eq!(
        decide_check(
            &cm,
            &req("A1", Some("2")),
            Some(&open),
            Some(&normal),
            &shop,
            &[card_sibling],
            10
        )
        .map_err(|e| e.sub_code().to_string()),
        Err("QUANTITY_NOT_ENOUGH".into()),
        "a times card of the same order and item is not a normal ticket's unit"
    );
    let mut sibling = normal.ticket.clone();
    sibling.voucher_id = "v2".into();
    sibling.code = "A2".into();
    assert_eq!(
        decide_check(
            &cm,
            &req("A1", Some("2")),
            Some(&open),
            Some(&normal),
            &shop,
            &[sibling],
            10
        ),
        Ok(()),
        "the order's second ticket makes two"
    );
    assert_eq!(
        check(&req("A1", None), Some(&used)),
        Err("TICKET_STATUS_ILLEGAL".into())
    );
    assert_eq!(
        check(&req("A1", None), None),
        Err("TICKET_NOT_EXIST".into())
    );
    assert_eq!(
        decide_check(&cm, &req("A1", None), None, Some(&normal), &shop, &[], 10)
            .map_err(|e| e.sub_code().to_string()),
        Err("ORDER_NOT_EXIST".into())
    );

    let close = parse_close(&biz(
        json!({"request_id": "x1", "order_no": "O1", "send_order_no": "S1",
                                         "send_token": "T", "reason": "r"}),
    ))
    .unwrap();
    assert_eq!(
        decide_close(&cm, &close, Some(&open)),
        Ok(2),
        "two tickets never sent"
    );
    assert_eq!(
        decide_close(&cm, &close, Some(&send_order(true, 1))),
        Err(Refusal::SendOrderClosed)
    );
    assert_eq!(decide_close(&cm, &close, None), Err(Refusal::OrderNotExist));
    assert_eq!(
        decide_close(&AppId::trusted("2021000000000001"), &close, Some(&open)),
        Err(Refusal::NotSameMerchantPid)
    );
}
