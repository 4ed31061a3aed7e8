//! Table tests of the pure decisions: each case names the facts and the expected answer.
#![allow(
    clippy::type_complexity,
    reason = "each case table is one tuple type, read once"
)]

use super::cancel::{self, CancelFacts};
use super::fields::Biz;
use super::*;

use super::fixtures::{M, NOW, item, ticket};

fn m() -> names::MerchantPid {
    names::MerchantPid::trusted(M)
}

fn shop(known: bool) -> ShopFacts {
    ShopFacts {
        shop_id: "s1".into(),
        known,
        name: known.then(|| "shop".into()),
    }
}

fn use_request(biz: &str) -> use_::UseRequest {
    let biz = Biz::parse(biz).unwrap();
    let id = use_::request_id(&biz).unwrap();
    use_::parse(&biz, id).unwrap()
}

#[test]
fn use_decisions() {
    let normal = TicketView {
        ticket: ticket("1", 1, 1),
        item: item(None, None),
    };
    let card = TicketView {
        ticket: ticket("2", 10, 4),
        item: item(Some(10), None),
    };
    let refunded = TicketView {
        ticket: Ticket {
            refunded: true,
            ..ticket("3", 1, 0)
        },
        item: item(None, None),
    };
    let used = TicketView {
        ticket: ticket("4", 1, 0),
        item: item(None, None),
    };
    let foreign = TicketView {
        ticket: Ticket {
            merchant_pid: "2088000000000009".into(),
            ..ticket("5", 1, 1)
        },
        item: item(None, None),
    };
    let expired = TicketView {
        ticket: Ticket {
            expire_at: NOW - 1,
            ..ticket("6", 1, 1)
        },
        item: item(None, None),
    };
    let shop2_only = TicketView {
        ticket: ticket("7", 1, 1),
        item: item(None, Some(vec!["s2"])),
    };
    let sibling = ticket("8", 1, 1);
    let expired_card = TicketView {
        ticket: Ticket {
            expire_at: 0,
            ..card.ticket.clone()
        },
        item: card.item.clone(),
    };
    let one = r#"{"request_id":"r","ticket_code":"1","shop_id":"s1"}"#;
    let q = |n: i64| {
        format!(r#"{{"request_id":"r","ticket_code":"1","shop_id":"s1","quantity":"{n}"}}"#)
    };
    let cases: Vec<(
        &str,
        Option<&TicketView>,
        bool,
        Vec<Ticket>,
        String,
        Result<usize, &str>,
    )> = vec![
        ("normal", Some(&normal), true, vec![], one.into(), Ok(1)),
        (
            "unknown",
            None,
            true,
            vec![],
            one.into(),
            Err("TICKET_NOT_EXIST"),
        ),
        (
            "foreign",
            Some(&foreign),
            true,
            vec![],
            one.into(),
            Err("NOT_SAME_MERCHANT_PID"),
        ),
        (
            "refunded",
            Some(&refunded),
            true,
            vec![],
            one.into(),
            Err("TICKET_STATUS_ILLEGAL"),
        ),
        (
            "used",
            Some(&used),
            true,
            vec![],
            one.into(),
            Err("TICKET_STATUS_ILLEGAL"),
        ),
        (
            "card needs quantity",
            Some(&card),
            true,
            vec![],
            one.into(),
            Err("INVALID_PARAMETER"),
        ),
        ("card 4 of 4", Some(&card), true, vec![], q(4), Ok(1)),
        (
            "card 5 of 4",
            Some(&card),
            true,
            vec![],
            q(5),
            Err("QUANTITY_NOT_ENOUGH"),
        ),
        (
            "expired",
            Some(&expired),
            true,
            vec![],
            one.into(),
            Err("TICKET_NOT_EFFECTIVE"),
        ),
        (
            "unknown shop",
            Some(&normal),
            false,
            vec![],
            one.into(),
            Err("SHOP_NOT_MATCH"),
        ),
        (
            "other shop",
            Some(&shop2_only),
            true,
            vec![],
            one.into(),
            Err("SHOP_NOT_MATCH"),
        ),
        (
            "two with a sibling",
            Some(&normal),
            true,
            vec![sibling.clone()],
            q(2),
            Ok(2),
        ),
        (
            "three with one sibling",
            Some(&normal),
            true,
            vec![sibling.clone()],
            q(3),
            Err("QUANTITY_NOT_ENOUGH"),
        ),
        (
            "a used sibling does not count",
            Some(&normal),
            true,
            vec![Ticket {
                available_quantity: 0,
                ..sibling.clone()
            }],
            q(2),
            Err("QUANTITY_NOT_ENOUGH"),
        ),
        // State is checked before quantity, quantity before the window, the window before the shop.
        (
            "used beats quantity",
            Some(&used),
            true,
            vec![],
            q(9),
            Err("TICKET_STATUS_ILLEGAL"),
        ),
        (
            "quantity beats window",
            Some(&expired_card),
            true,
            vec![],
            q(9),
            Err("QUANTITY_NOT_ENOUGH"),
        ),
        (
            "window beats shop",
            Some(&expired),
            false,
            vec![],
            one.into(),
            Err("TICKET_NOT_EFFECTIVE"),
        ),
    ];
    for (name, view, known, siblings, biz, want) in cases {
        let got = use_::decide(&m(), &use_request(&biz), view, &shop(known), &siblings, NOW);
        match (got, want) {
            (Ok(plan), Ok(units)) => assert_eq!(plan.units.len(), units, "{name}"),
            (Err(r), Err(code)) => assert_eq!(r.sub_code(), code, "{name}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

fn use_order(closed: bool, channel: Channel, quantity: i64) -> UseOrder {
    UseOrder {
        use_order_id: "uo1".into(),
        merchant_pid: M.into(),
        request_id: "u1".into(),
        channel,
        closed,
        ticket_code: "1".into(),
        code_type: Some(CodeType::Internal),
        order_no: None,
        voucher_id: Some("v1".into()),
        quantity,
        created_at: NOW,
    }
}

#[test]
fn cancel_decisions() {
    let normal = TicketView {
        ticket: ticket("1", 1, 0),
        item: item(None, None),
    };
    let card = TicketView {
        ticket: ticket("1", 10, 7),
        item: item(Some(10), None),
    };
    let foreign = TicketView {
        ticket: Ticket {
            merchant_pid: "2088000000000009".into(),
            ..ticket("1", 1, 0)
        },
        item: item(None, None),
    };
    let refunded_ticket = Ticket {
        refunded: true,
        ..ticket("1", 1, 0)
    };
    let open = use_order(false, Channel::OpenPlatform, 1);
    let open3 = use_order(false, Channel::OpenPlatform, 3);
    let closed = use_order(true, Channel::OpenPlatform, 1);
    let console = use_order(false, Channel::MerchantConsole, 1);
    let other_ticket = UseOrder {
        ticket_code: "2".into(),
        voucher_id: Some("v2".into()),
        ..open.clone()
    };
    let uses = vec![("v1".to_string(), "t1".to_string(), 1)];
    let plain = r#"{"request_id":"c","request_biz_no":"u1","ticket_code":"1"}"#;
    let q3 = r#"{"request_id":"c","request_biz_no":"u1","ticket_code":"1","quantity":"3"}"#;
    let q2 = r#"{"request_id":"c","request_biz_no":"u1","ticket_code":"1","quantity":"2"}"#;
    let t = |v: &TicketView| vec![v.ticket.clone()];
    let cases: Vec<(
        &str,
        Option<&TicketView>,
        Option<&UseOrder>,
        bool,
        Vec<Ticket>,
        &str,
        Result<(), &str>,
    )> = vec![
        (
            "reverses",
            Some(&normal),
            Some(&open),
            false,
            t(&normal),
            plain,
            Ok(()),
        ),
        (
            "unknown ticket",
            None,
            Some(&open),
            false,
            vec![],
            plain,
            Err("USE_BIZ_ORDER_NOT_EXIST"),
        ),
        (
            "foreign ticket",
            Some(&foreign),
            None,
            false,
            vec![],
            plain,
            Err("NOT_SAME_MERCHANT_PID"),
        ),
        (
            "no use",
            Some(&normal),
            None,
            false,
            vec![],
            plain,
            Err("USE_BIZ_ORDER_NOT_EXIST"),
        ),
        (
            "use of another ticket",
            Some(&normal),
            Some(&other_ticket),
            false,
            vec![],
            plain,
            Err("USE_BIZ_ORDER_NOT_EXIST"),
        ),
        (
            "closed",
            Some(&normal),
            Some(&closed),
            false,
            vec![],
            plain,
            Err("USE_BIZ_ORDER_CLOSE"),
        ),
        (
            "console",
            Some(&normal),
            Some(&console),
            false,
            t(&normal),
            plain,
            Err("USE_CHANNEL_NOT_EQUAL"),
        ),
        (
            "again",
            Some(&normal),
            Some(&open),
            true,
            t(&normal),
            plain,
            Err("REPEAT_CANCEL"),
        ),
        (
            "card without quantity",
            Some(&card),
            Some(&open3),
            false,
            t(&card),
            plain,
            Err("INVALID_PARAMETER"),
        ),
        (
            "card wrong quantity",
            Some(&card),
            Some(&open3),
            false,
            t(&card),
            q2,
            Err("INVALID_PARAMETER"),
        ),
        (
            "card right quantity",
            Some(&card),
            Some(&open3),
            false,
            t(&card),
            q3,
            Ok(()),
        ),
        (
            "refunded",
            Some(&normal),
            Some(&open),
            false,
            vec![refunded_ticket],
            plain,
            Err("TICKET_STATUS_ILLEGAL"),
        ),
        (
            "card refunded after use",
            Some(&card),
            Some(&open3),
            false,
            t(&card),
            q3,
            Err("TICKET_STATUS_ILLEGAL"),
        ),
        (
            "repeat beats quantity",
            Some(&card),
            Some(&open3),
            true,
            t(&card),
            q2,
            Err("REPEAT_CANCEL"),
        ),
    ];
    for (name, view, order, already, use_tickets, biz, want) in cases {
        let req = cancel::parse(&Biz::parse(biz).unwrap()).unwrap();
        let facts = CancelFacts {
            ticket: view,
            use_order: order,
            already_cancelled: already,
            uses: &uses,
            use_tickets: &use_tickets,
            refunded_use: name == "card refunded after use",
        };
        match (cancel::decide(&m(), &req, &facts), want) {
            (Ok(plan), Ok(())) => assert_eq!(plan.reversals, uses, "{name}"),
            (Err(r), Err(code)) => assert_eq!(r.sub_code(), code, "{name}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn cancel_replays_compare_every_parameter() {
    let parse = |s: &str| cancel::parse(&Biz::parse(s).unwrap()).unwrap();
    let first = parse(r#"{"request_id":"c","request_biz_no":"u1","ticket_code":"1"}"#);
    let done = idempotency::Record::answered(first.fingerprint(), &cancel::answer(&first));
    let same = parse(
        r#"{"request_id":"c","request_biz_no":"u1","ticket_code":"1","code_type":"INTERNAL_CODE"}"#,
    );
    assert_eq!(
        cancel::replay(&done, &same).unwrap().biz_code.as_deref(),
        Some("BIZ_ALREADY_SUCCESS")
    );
    for other in [
        r#"{"request_id":"c","request_biz_no":"u2","ticket_code":"1"}"#,
        r#"{"request_id":"c","request_biz_no":"u1","ticket_code":"2"}"#,
        r#"{"request_id":"c","request_biz_no":"u1","ticket_code":"1","quantity":"1"}"#,
        r#"{"request_id":"c","request_biz_no":"u1","ticket_code":"1","order_no":"o"}"#,
    ] {
        assert_eq!(
            cancel::replay(&done, &parse(other)).unwrap_err(),
            Refusal::RequestIdRepeat,
            "{other}"
        );
    }
}

#[test]
fn available_quantity_follows_the_transactions() {
    let tr = |kind, quantity| Trans {
        trans_id: String::new(),
        voucher_id: String::new(),
        kind,
        quantity,
        use_order_id: None,
        reverses_trans_id: None,
        expire_change: None,
        created_at: 0,
    };
    assert_eq!(available_from(10, &[]), 10);
    assert_eq!(
        available_from(
            10,
            &[
                tr(TransKind::Use, 3),
                tr(TransKind::Cancel, 3),
                tr(TransKind::Use, 4)
            ]
        ),
        6
    );
    assert_eq!(
        available_from(10, &[tr(TransKind::Use, 4), tr(TransKind::Refund, 6)]),
        0
    );
    // A refund after use points at its use and changes no units.
    let after_use = Trans {
        reverses_trans_id: Some("u1".into()),
        ..tr(TransKind::Refund, 4)
    };
    assert_eq!(available_from(10, &[tr(TransKind::Use, 4), after_use]), 6);
}
