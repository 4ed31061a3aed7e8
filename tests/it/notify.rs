//! Notifications: queued with the use or cancel, signed, delivered until acknowledged on the
//! published schedule, parked, resent, and never lost or claimed twice.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use ticketgate::alipay::form::{self, Params};
use ticketgate::alipay::sign::{self, NOTIFICATION};
use ticketgate::alipay::{Charset, SignType};
use ticketgate::notify::worker::{Deliverer, Outcome, Settings};
use ticketgate::operations::admin;

use crate::helpers::*;
use crate::receiver::*;

const MIN: i64 = 60_000;

pub(crate) fn deliverer(app: &TestApp, timeout_ms: u64) -> Deliverer {
    Deliverer::new(
        app.store().clone(),
        app.app().platform_key.clone(),
        Settings {
            timeout: Duration::from_millis(timeout_ms),
            ..Settings::default()
        },
    )
}

/// Decodes a received form in `charset` and checks its signature with the platform key.
pub(crate) fn verified_form(
    app: &TestApp,
    received: &Received,
    charset: Charset,
    sign_type: SignType,
) -> Params {
    assert!(
        received.head.starts_with("POST /notify "),
        "{}",
        received.head
    );
    let lower = received.head.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/x-www-form-urlencoded"),
        "{}",
        received.head
    );
    let params = form::decode(&form::split(&received.body), charset)
        .expect("the form is in the app's charset");
    assert!(
        params.values().all(|v| !v.is_empty()),
        "no empty field: {params:?}"
    );
    assert_eq!(params["sign_type"], sign_type.name());
    let content = sign::content(&params, NOTIFICATION);
    assert!(
        app.platform_public_key()
            .verify(sign_type, &charset.encode(&content), &params["sign"]),
        "the notification verifies: {content}"
    );
    params
}

async fn notifications(app: &TestApp, status: Option<&str>) -> Vec<serde_json::Value> {
    let list = admin::notify_list(app.service(), status.map(String::from))
        .await
        .unwrap();
    list["notifications"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_use_and_its_cancel_each_send_a_signed_notification() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let code = app.issue_one(NORMAL).await;
    let client = app.client();
    let extra = [("notify_url", receiver.url.as_str())];
    let used = client
        .call(
            USE,
            &json!({"request_id": "u1", "ticket_code": code, "shop_id": SHOP}).to_string(),
            &extra,
        )
        .await
        .unwrap();
    assert_success(&used);
    let pending = notifications(&app, Some("pending")).await;
    assert_eq!(pending.len(), 1, "queued with the use, before any delivery");
    let d = deliverer(&app, 2000);
    let now = ticketgate::clock::system_now_ms();
    assert!(matches!(
        d.deliver_next(now).await.unwrap(),
        Outcome::Delivered { .. }
    ));
    let form = verified_form(&app, &receiver.last(), Charset::Utf8, SignType::Rsa2);
    assert_eq!(form["notify_type"], "koubei_ticket_openapi_use_notify");
    assert_eq!(form["biz_type"], "TICKET_USE");
    assert_eq!(form["request_id"], "u1");
    assert_eq!(form["ticket_code"], code);
    assert_eq!(form["order_no"], used.field("order_no"));
    assert_eq!(form["quantity"], "1");
    assert_eq!(form["ticket_trans_id"], used.field("ticket_trans_id"));
    assert_eq!(form["app_id"], A1);
    assert_eq!(form["charset"], "utf-8");
    assert_eq!(form["version"], "1.0");
    assert_eq!(form["notify_id"], pending[0]["notify_id"].as_str().unwrap());
    assert!(!form.contains_key("auth_app_id"));
    let cancel_biz =
        json!({"request_id": "c1", "request_biz_no": "u1", "ticket_code": code}).to_string();
    let cancelled = client.call(CANCEL, &cancel_biz, &extra).await.unwrap();
    assert_success(&cancelled);
    let now = ticketgate::clock::system_now_ms();
    assert!(matches!(
        d.deliver_next(now).await.unwrap(),
        Outcome::Delivered { .. }
    ));
    let form = verified_form(&app, &receiver.last(), Charset::Utf8, SignType::Rsa2);
    assert_eq!(form["biz_type"], "TICKET_CANCEL");
    assert_eq!(form["request_id"], "c1", "the cancel's own request id");
    let trans = app.query(&code).await.node["ticket_trans_info_list"][1].clone();
    assert_eq!(trans["ticket_trans_type"], "CANCEL");
    assert_eq!(
        form["ticket_trans_id"],
        trans["ticket_trans_id"].as_str().unwrap(),
        "the cancel's own transaction"
    );
    assert_eq!(notifications(&app, Some("delivered")).await.len(), 2);
    // A replayed cancel changes nothing and sends nothing more.
    let replay = client.call(CANCEL, &cancel_biz, &extra).await.unwrap();
    assert_eq!(replay.field("biz_code"), "BIZ_ALREADY_SUCCESS");
    assert_eq!(notifications(&app, None).await.len(), 2);
    assert!(matches!(
        d.deliver_next(now).await.unwrap(),
        Outcome::Idle { next_due: None }
    ));
}

#[tokio::test]
async fn the_apps_notify_url_charset_and_sign_type_are_the_defaults() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    app.add_app_of_m1("2021000000000044", "RSA", "gbk", Some(&receiver.url))
        .await;
    ticketgate::operations::admin::add_shop(app.service(), M1, "口碑店", "口碑店")
        .await
        .unwrap();
    let card = app.issue_one(CARD).await;
    let client = app.client_for("2021000000000044", SignType::Rsa2, Charset::Utf8);
    let biz =
        json!({"request_id": "g1", "ticket_code": card, "shop_id": "口碑店", "quantity": "3"});
    assert_success(&client.call(USE, &biz.to_string(), &[]).await.unwrap());
    assert!(matches!(
        deliverer(&app, 2000)
            .deliver_next(ticketgate::clock::system_now_ms())
            .await
            .unwrap(),
        Outcome::Delivered { .. }
    ));
    let form = verified_form(&app, &receiver.last(), Charset::Gbk, SignType::Rsa);
    assert_eq!(form["charset"], "gbk");
    assert_eq!(form["quantity"], "3");
    assert!(
        receiver
            .last()
            .head
            .to_ascii_lowercase()
            .contains("charset=gbk")
    );
}

#[tokio::test]
async fn refusals_console_uses_and_calls_without_a_url_send_nothing() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let codes = app.issue(NORMAL, 2).await;
    let extra = [("notify_url", receiver.url.as_str())];
    let client = app.client();
    let refused = client
        .call(
            USE,
            &json!({"request_id": "u1", "ticket_code": "000000000000", "shop_id": SHOP})
                .to_string(),
            &extra,
        )
        .await
        .unwrap();
    assert_refused(&refused, "TICKET_NOT_EXIST");
    assert_success(&app.use_code("u2", &codes[0]).await);
    admin::ticket_use(app.app(), &codes[1], None, SHOP, None, None)
        .await
        .unwrap();
    assert!(notifications(&app, None).await.is_empty());
}

#[tokio::test]
async fn an_isv_call_names_the_merchant_it_acted_for() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let code = app.issue_one(NORMAL).await;
    let token = admin::grant_token(app.service(), A3, M1, None)
        .await
        .unwrap()["app_auth_token"]
        .as_str()
        .unwrap()
        .to_string();
    let isv = app.client_for(A3, SignType::Rsa2, Charset::Utf8);
    let biz = json!({"request_id": "i1", "ticket_code": code, "shop_id": SHOP}).to_string();
    let reply = isv
        .call(
            USE,
            &biz,
            &[("app_auth_token", &token), ("notify_url", &receiver.url)],
        )
        .await
        .unwrap();
    assert_success(&reply);
    deliverer(&app, 2000)
        .deliver_next(ticketgate::clock::system_now_ms())
        .await
        .unwrap();
    let form = verified_form(&app, &receiver.last(), Charset::Utf8, SignType::Rsa2);
    assert_eq!(form["app_id"], A3);
    assert_eq!(form["auth_app_id"], M1);
}

#[tokio::test]
async fn failures_follow_the_schedule_then_the_notification_is_parked_and_can_be_resent() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![
        Answer(200, "fail"),
        Answer(500, "success"),
        Hang(Duration::from_millis(1500)),
        Close,
        Answer(302, ""),
        Answer(200, "success\n"),
        Answer(200, "SUCCESS"),
        Answer(404, "not here"),
    ])
    .await;
    let code = app.issue_one(NORMAL).await;
    let reply = app.use_notifying("u1", &code, &receiver.url).await;
    assert_success(&reply);
    let d = deliverer(&app, 400);
    let schedule = [
        4 * MIN,
        10 * MIN,
        10 * MIN,
        60 * MIN,
        120 * MIN,
        360 * MIN,
        900 * MIN,
    ];
    let mut now = ticketgate::clock::system_now_ms();
    let mut ids = Vec::new();
    for (attempt, wait) in schedule.iter().enumerate() {
        match d.deliver_next(now).await.unwrap() {
            Outcome::Retry {
                notify_id,
                next_attempt_at,
                error,
            } => {
                assert_eq!(next_attempt_at, now + wait, "attempt {attempt}: {error}");
                ids.push(notify_id);
            }
            other => panic!("attempt {attempt}: {other:?}"),
        }
        // Not due a millisecond early.
        assert_eq!(
            d.deliver_next(now + wait - 1).await.unwrap(),
            Outcome::Idle {
                next_due: Some(now + wait)
            }
        );
        now += wait;
    }
    let last = d.deliver_next(now).await.unwrap();
    assert!(
        matches!(&last, Outcome::Parked { notify_id, .. } if *notify_id == ids[0]),
        "{last:?}"
    );
    assert_eq!(receiver.count(), 8, "eight attempts in all");
    assert_eq!(
        receiver.remaining(),
        0,
        "each scripted failure was met once"
    );
    ids.dedup();
    assert_eq!(ids.len(), 1, "the same notification every time");
    let forms: Vec<Params> = receiver
        .all()
        .iter()
        .map(|r| verified_form(&app, r, Charset::Utf8, SignType::Rsa2))
        .collect();
    assert!(
        forms.iter().all(|f| f["notify_id"] == ids[0]),
        "same notify_id on every retry"
    );
    let parked = notifications(&app, Some("parked")).await;
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0]["attempts"], 8);
    assert_eq!(parked[0]["last_error"], "HTTP 404");
    assert!(parked[0]["next_attempt_at"].is_null());
    // Resent: due at once, delivered, and resendable again only once it is not pending.
    let resent = admin::notify_resend(app.service(), &ids[0]).await.unwrap();
    assert_eq!(resent["status"], "pending");
    assert!(matches!(
        admin::notify_resend(app.service(), &ids[0]).await,
        Err(admin::AdminError::Invalid(_))
    ));
    assert!(matches!(
        admin::notify_resend(app.service(), "nope").await,
        Err(admin::AdminError::NotFound(_))
    ));
    let now = ticketgate::clock::system_now_ms();
    assert!(matches!(
        d.deliver_next(now).await.unwrap(),
        Outcome::Delivered { .. }
    ));
    assert_eq!(
        notifications(&app, Some("delivered")).await[0]["notify_id"],
        ids[0].as_str()
    );
    admin::notify_resend(app.service(), &ids[0]).await.unwrap();
    let now = ticketgate::clock::system_now_ms();
    assert!(matches!(
        d.deliver_next(now).await.unwrap(),
        Outcome::Delivered { .. }
    ));
    assert_eq!(receiver.count(), 10);
}

#[tokio::test]
async fn each_failure_is_described_and_a_later_success_delivers() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![
        Answer(200, "fail"),
        Answer(500, "oops"),
        Hang(Duration::from_millis(1500)),
        Close,
    ])
    .await;
    let code = app.issue_one(NORMAL).await;
    let reply = app.use_notifying("u1", &code, &receiver.url).await;
    assert_success(&reply);
    let d = deliverer(&app, 400);
    let mut now = ticketgate::clock::system_now_ms();
    let mut errors = Vec::new();
    for _ in 0..4 {
        match d.deliver_next(now).await.unwrap() {
            Outcome::Retry {
                next_attempt_at,
                error,
                ..
            } => {
                errors.push(error);
                now = next_attempt_at;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(errors[0], "answered \"fail\", not \"success\"");
    assert_eq!(errors[1], "HTTP 500");
    assert_eq!(errors[2], "timed out");
    assert!(!errors[3].is_empty());
    assert!(matches!(
        d.deliver_next(now).await.unwrap(),
        Outcome::Delivered { .. }
    ));
    let delivered = notifications(&app, Some("delivered")).await;
    assert_eq!(delivered[0]["attempts"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliverers_claim_each_notification_once() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let codes = app.issue(NORMAL, 12).await;
    let client = app.client();
    for (i, code) in codes.iter().enumerate() {
        let biz = json!({"request_id": format!("u{i}"), "ticket_code": code, "shop_id": SHOP})
            .to_string();
        assert_success(
            &client
                .call(USE, &biz, &[("notify_url", &receiver.url)])
                .await
                .unwrap(),
        );
    }
    let now = ticketgate::clock::system_now_ms();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let d = deliverer(&app, 2000);
            tokio::spawn(async move {
                let mut delivered = 0;
                while let Outcome::Delivered { .. } = d.deliver_next(now).await.unwrap() {
                    delivered += 1;
                }
                delivered
            })
        })
        .collect();
    let mut total = 0;
    for w in workers {
        total += w.await.unwrap();
    }
    assert_eq!(total, 12);
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for r in receiver.all() {
        let form = verified_form(&app, &r, Charset::Utf8, SignType::Rsa2);
        *per_id.entry(form["notify_id"].clone()).or_insert(0) += 1;
    }
    assert_eq!(per_id.len(), 12);
    assert!(per_id.values().all(|&n| n == 1), "{per_id:?}");
}

/// A demo node with seconds-long retries, a use that notifies `receiver`, and the client.
async fn crash_scenario(dir: &std::path::Path, receiver: &Receiver) -> crate::cli::Served {
    let (node, demo) = crate::cli::serve(dir, &CRASH_ARGS);
    let s = |k: &str| demo[k].as_str().unwrap().to_string();
    let key = |k: &str| std::fs::read_to_string(s(k)).unwrap();
    let client = ticketgate::client::Client::new(
        &s("gateway"),
        &s("app_id"),
        ticketgate::alipay::PrivateKey::from_text(&key("app_private_key_file")).unwrap(),
        ticketgate::alipay::PublicKey::from_text(&key("alipay_public_key_file")).unwrap(),
        SignType::Rsa2,
        Charset::Utf8,
    );
    let ticket = demo["tickets"]["normal"][0].as_str().unwrap();
    let biz =
        json!({"request_id": "k1", "ticket_code": ticket, "shop_id": s("shop_id")}).to_string();
    let reply = client
        .call(USE, &biz, &[("notify_url", &receiver.url)])
        .await
        .unwrap();
    assert!(reply.verified);
    assert_success(&reply);
    node
}

const CRASH_ARGS: [&str; 4] = ["--notify-schedule", "1s,1s,1s", "--notify-timeout", "2s"];

fn listed(dir: &std::path::Path) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ticketgate"))
        .args(["admin", "notify", "list", "--data"])
        .arg(dir)
        .env_remove("TICKETGATE_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    all["notifications"][0].clone()
}

/// Restarts the node after a kill -9 and waits for the receiver's second request; checks that
/// it was the same notification and that it is now delivered (an attempt cut short by the
/// crash is not counted: it never finished).
async fn restart_and_finish(dir: &std::path::Path, receiver: &Receiver, recorded_attempts: i64) {
    let (mut node, _) = crate::cli::serve(dir, &CRASH_ARGS);
    wait_for(|| receiver.count() >= 2, "the attempt after the restart").await;
    wait_for(
        || listed(dir)["status"] == "delivered",
        "the delivery to be recorded",
    )
    .await;
    node.kill().unwrap();
    node.wait().unwrap();
    let ids: Vec<String> = receiver
        .all()
        .iter()
        .map(|r| form::decode(&form::split(&r.body), Charset::Utf8).unwrap()["notify_id"].clone())
        .collect();
    assert_eq!(ids[0], ids[1], "the same notification, resumed");
    let n = listed(dir);
    assert_eq!(n["attempts"], recorded_attempts, "{n}");
    assert_eq!(n["notify_id"], ids[0].as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_attempts_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(vec![Answer(500, "down for maintenance")]).await;
    let mut node = crash_scenario(dir.path(), &receiver).await;
    // The node's own delivery loop makes the first attempt, the receiver refuses it, and the
    // failure is recorded: now kill -9, between attempts.
    wait_for(
        || listed(dir.path())["attempts"] == 1,
        "the first attempt to be recorded",
    )
    .await;
    node.kill().unwrap();
    node.wait().unwrap();
    restart_and_finish(dir.path(), &receiver, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_an_attempt_retries_it_once_the_claim_runs_out() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(vec![Hang(Duration::from_secs(60))]).await;
    let mut node = crash_scenario(dir.path(), &receiver).await;
    wait_for(|| receiver.count() >= 1, "the first attempt").await;
    node.kill().unwrap();
    node.wait().unwrap();
    // The use was answered before the kill: it is durable.
    let demo: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("demo/demo.json")).unwrap())
            .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ticketgate"))
        .args([
            "admin",
            "ticket",
            "show",
            demo["tickets"]["normal"][0].as_str().unwrap(),
            "--data",
        ])
        .arg(dir.path())
        .env_remove("TICKETGATE_DATABASE_URL")
        .output()
        .unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["ticket_status"], "USED", "{shown}");
    assert_eq!(
        listed(dir.path())["attempts"],
        0,
        "the attempt never finished"
    );
    restart_and_finish(dir.path(), &receiver, 1).await;
}

async fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited 30 s for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The sandbox's duplicate delivery: every notification of the app arrives twice, with the
/// same `notify_id`, each signed and recorded as an attempt; off again, once.
#[tokio::test]
async fn an_app_set_to_notify_twice_gets_each_notification_twice_with_one_notify_id() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let codes = app.issue(NORMAL, 2).await;
    let on = admin::set_notify_twice(app.service(), A1, true)
        .await
        .unwrap();
    assert_eq!(on["notify_twice"], true);
    let used = app.use_notifying("u1", &codes[0], &receiver.url).await;
    assert_success(&used);
    let d = deliverer(&app, 2000);
    let now = ticketgate::clock::system_now_ms();
    assert!(matches!(
        d.deliver_next(now).await.unwrap(),
        Outcome::Delivered { .. }
    ));
    assert_eq!(receiver.count(), 2, "delivered twice");
    let forms: Vec<Params> = receiver
        .all()
        .iter()
        .map(|r| verified_form(&app, r, Charset::Utf8, SignType::Rsa2))
        .collect();
    assert_eq!(forms[0]["notify_id"], forms[1]["notify_id"]);
    assert_eq!(forms[0]["request_id"], "u1");
    let listed = notifications(&app, Some("delivered")).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["attempts"], 2, "{listed:?}");
    let id = listed[0]["notify_id"].as_str().unwrap().to_string();
    let shown = admin::notify_show(app.service(), &id).await.unwrap();
    let history = shown["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert!(
        history.iter().all(|a| a["delivered"] == true),
        "{history:?}"
    );

    admin::set_notify_twice(app.service(), A1, false)
        .await
        .unwrap();
    assert_success(&app.use_notifying("u2", &codes[1], &receiver.url).await);
    let now = ticketgate::clock::system_now_ms();
    assert!(matches!(
        d.deliver_next(now).await.unwrap(),
        Outcome::Delivered { .. }
    ));
    assert_eq!(receiver.count(), 3, "once again");
}
