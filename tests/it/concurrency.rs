//! Concurrent requests on one node: exactly one effect, never "database is locked".

use serde_json::json;

use crate::helpers::*;
use crate::races;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_uses_of_one_ticket_succeed_once() {
    let app = TestApp::spawn().await;
    races::sixteen_uses_of_one_ticket(&app, &[app.client()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_of_a_times_card_never_overdraw_it() {
    let app = TestApp::spawn().await;
    races::sixteen_uses_of_three_on_a_ten_use_card(&app, &[app.client()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_read_while_its_tickets_are_used_is_one_moment() {
    let app = TestApp::spawn().await;
    races::an_order_read_while_its_tickets_are_used_is_one_moment(&app, &[app.client()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cancels_of_one_use_reverse_it_once() {
    let app = TestApp::spawn().await;
    races::sixteen_cancels_of_one_use(&app, &[app.client()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_cancel_sent_many_times_at_once_has_one_effect() {
    let app = TestApp::spawn().await;
    races::one_cancel_sent_sixteen_times(&app, &[app.client()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_use_request_id_sent_many_times_at_once_has_one_effect() {
    let app = TestApp::spawn().await;
    races::one_use_request_id_on_two_tickets(&app, &[app.client()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tickets_used_at_once_all_succeed() {
    let app = TestApp::spawn().await;
    let codes = app.issue(NORMAL, 40).await;
    let bodies = codes
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"request_id": format!("u{i}"), "ticket_code": c, "shop_id": SHOP}))
        .collect();
    let tally = races::concurrently(&[app.client()], USE, bodies).await;
    assert_eq!(tally.get("10000 "), Some(&40), "{tally:?}");
}
