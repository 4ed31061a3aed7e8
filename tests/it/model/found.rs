//! What the simulator found, each as the shortest sequence that showed it, replayed against
//! the model (every answer compared, the invariants checked after every step).

use super::run::must_hold;
use super::sim::Step::{self, *};

/// A use given back by the code merchant's sync can be neither refunded nor cancelled: the
/// sync's cancel names the use it reverses.
#[tokio::test]
async fn a_use_given_back_by_a_sync_is_never_refunded_or_cancelled() {
    must_hold(&[
        Send {
            rid: 1,
            codes: vec![0],
            good_token: true,
        },
        Use {
            rid: 1,
            slot: 5,
            shop: 0,
            quantity: Some(1),
        },
        Sync {
            rid: 1,
            slot: 5,
            quantity: 1,
        },
        Refund {
            rid: 1,
            slot: 5,
            nth: 0,
        },
        Cancel {
            rid: 1,
            of: 1,
            slot: 5,
            quantity: None,
        },
    ])
    .await;
}

/// `checkavailable` judges validity on the clock of the merchant whose ticket it is (as a use
/// does), not on the code merchant's own.
#[tokio::test]
async fn a_check_follows_the_tickets_merchants_clock() {
    must_hold(&[
        Clock { days: 200 },
        Send {
            rid: 1,
            codes: vec![0],
            good_token: true,
        },
        Clock { days: 100 },
        Clock { days: 100 },
        Check {
            slot: 5,
            shop: 1,
            quantity: Some(2),
            good_token: true,
        },
    ])
    .await;
}

/// A normal ticket's quantity counts the order's other normal tickets, never a times card of
/// the same item that the code merchant sent in the same order.
#[tokio::test]
async fn a_times_card_is_not_a_normal_tickets_unit() {
    must_hold(&[
        Send {
            rid: 1,
            codes: vec![0],
            good_token: true,
        },
        Send {
            rid: 2,
            codes: vec![2],
            good_token: true,
        },
        Check {
            slot: 5,
            shop: 0,
            quantity: Some(2),
            good_token: true,
        },
        Use {
            rid: 1,
            slot: 5,
            shop: 0,
            quantity: Some(2),
        },
    ])
    .await;
}

/// Two faults armed one after the other apply to two calls made one after the other (the
/// second used to be skipped while the node's copy still held the first, spent).
#[tokio::test]
async fn two_faults_armed_apply_to_two_calls_in_turn() {
    let steps: Vec<Step> = vec![
        Fault {
            cancel: false,
            after_commit: true,
        },
        Fault {
            cancel: false,
            after_commit: false,
        },
        Use {
            rid: 1,
            slot: 0,
            shop: 0,
            quantity: Some(1),
        },
        Use {
            rid: 2,
            slot: 1,
            shop: 0,
            quantity: Some(1),
        },
        Use {
            rid: 1,
            slot: 0,
            shop: 0,
            quantity: Some(1),
        },
    ];
    must_hold(&steps).await;
}
