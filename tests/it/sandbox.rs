//! Sandbox powers over HTTP, on whichever store the suite runs on: test clocks (the ledger and
//! the notification schedule), injected faults of every kind, fixtures and reset, and the
//! `ticketgate receive` receiver.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ticketgate::alipay::{Charset, PrivateKey, SignType, time};
use ticketgate::client::Client;
use ticketgate::operations::admin::{self, AdminError, NewFault};
use ticketgate::store::LogFilter;

use crate::helpers::*;
use crate::receiver::{Answer, Receiver};
use ticketgate::store::op;

const BIN: &str = env!("CARGO_BIN_EXE_ticketgate");
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// `ticketgate` with the test server's store.
fn cli(app: &TestApp) -> Command {
    let mut command = Command::new(BIN);
    command.arg("admin").arg("--data").arg(app.data());
    match &app.database_url {
        Some(url) => command.arg("--database-url").arg(url),
        None => command.env_remove("TICKETGATE_DATABASE_URL"),
    };
    command
}

fn run_json(command: &mut Command) -> Value {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn fault(method: &str, answer: &str) -> NewFault {
    NewFault {
        method: method.into(),
        answer: Some(answer.into()),
        ..Default::default()
    }
}

fn available(reply: &ticketgate::client::Reply) -> String {
    reply.field("available_quantity").to_string()
}

#[tokio::test]
async fn a_year_long_ticket_expires_when_its_merchants_clock_moves_a_year_and_delay_revives_it() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let other = app.issue_one(NORMAL_M2).await;
    assert_eq!(app.query(&code).await.field("ticket_status"), "EFFECTIVE");

    let moved = admin::clock_advance(app.service(), M1, 366 * DAY_MS)
        .await
        .unwrap();
    assert_eq!(moved["ahead_by"], "366d");
    let merchant_now = time::parse(moved["now"].as_str().unwrap()).unwrap();
    // Calls still carry real timestamps (checked with a 1-day skew): only the ledger moved.
    assert_eq!(
        app.query(&code).await.field("ticket_status"),
        "UN_EFFECTIVE"
    );
    assert_refused(&app.use_code("u1", &code).await, "TICKET_NOT_EFFECTIVE");
    // Another merchant's clock did not move.
    let m2_use = app
        .call_as(
            A2,
            USE,
            json!({"request_id": "m2", "ticket_code": other, "shop_id": SHOP_M2}),
        )
        .await;
    assert_success(&m2_use);
    let m2_date = time::parse(m2_use.field("use_date")).unwrap();
    assert!((m2_date - ticketgate::clock::system_now_ms()).abs() < DAY_MS);

    // Delay it by 30 days of the merchant's time: usable again, and used on that clock.
    let end_date = time::format(merchant_now + 30 * DAY_MS);
    let order_no = app.order_of(&code).await;
    let delayed = app
        .delay(json!({"request_id": "d1", "order_no": order_no, "ticket_code": code, "end_date": end_date}))
        .await;
    assert_success(&delayed);
    let used = app.use_code("u2", &code).await;
    assert_success(&used);
    let use_date = time::parse(used.field("use_date")).unwrap();
    assert!(
        use_date >= merchant_now && use_date < merchant_now + DAY_MS,
        "{} is not by the merchant's clock ({})",
        used.field("use_date"),
        moved["now"]
    );

    // Forward only; reset is the one way back.
    let back = admin::clock_set(app.service(), M1, &time::format(merchant_now - DAY_MS)).await;
    assert!(
        matches!(&back, Err(AdminError::Invalid(why)) if why.contains("only move forward")),
        "{back:?}"
    );
    let later = time::format(merchant_now + 2 * DAY_MS);
    let set = admin::clock_set(app.service(), M1, &later).await.unwrap();
    assert_eq!(set["now"].as_str().unwrap()[..16], later[..16]);
    let shown = admin::clock_show(app.service(), None).await.unwrap();
    assert_eq!(shown["clocks"].as_array().unwrap().len(), 1);
    let reset = admin::clock_reset(app.service(), M1).await.unwrap();
    assert_eq!(reset["test_clock"], false);
    assert_eq!(reset["had_test_clock"], true);
    let fresh = app.issue_one(NORMAL).await;
    let again = app.use_code("u3", &fresh).await;
    assert_success(&again);
    let date = time::parse(again.field("use_date")).unwrap();
    assert!((date - ticketgate::clock::system_now_ms()).abs() < DAY_MS);
    app.assert_consistent(&code).await;

    // Unknown merchants and backward steps are refused before anything is written.
    assert!(matches!(
        admin::clock_advance(app.service(), "2088999999999999", DAY_MS).await,
        Err(AdminError::NotFound(_))
    ));
    assert!(matches!(
        admin::clock_advance(app.service(), M1, 0).await,
        Err(AdminError::Invalid(_))
    ));
}

async fn outbox(app: &TestApp) -> Vec<Value> {
    admin::notify_list(app.service(), None).await.unwrap()["notifications"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until the only notification satisfies `done`.
async fn wait_for(app: &TestApp, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = outbox(app).await;
        if let Some(n) = list.first()
            && done(n)
        {
            return n.clone();
        }
        assert!(Instant::now() < deadline, "{what}: {list:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn advancing_a_day_takes_a_failing_notification_through_every_attempt_to_parked() {
    let mut app = TestApp::unstarted_fresh().await;
    app.notify.workers = 1;
    app.start("127.0.0.1:0").await;
    app.seed().await;
    let receiver = Receiver::start(vec![Answer(200, "fail"); 20]).await;
    let code = app.issue_one(NORMAL).await;
    assert_success(&app.use_notifying("n1", &code, &receiver.url).await);
    let first = wait_for(&app, "the first attempt", |n| n["attempts"] == 1).await;
    assert_eq!(first["status"], "pending");
    // On real time the next attempt is 4 minutes away.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 1);

    admin::clock_advance(app.service(), M1, 25 * HOUR_MS)
        .await
        .unwrap();
    let parked = wait_for(&app, "parked after 8 attempts", |n| n["status"] == "parked").await;
    assert_eq!(parked["attempts"], 8);
    let all = receiver.all();
    assert_eq!(all.len(), 8, "one POST per attempt, none after parking");
    // Every attempt is the same notification, dated when it was due by the merchant's clock:
    // the schedule's waits (4m, 10m, 10m, 1h, 2h, 6h, 15h) apart, 24h24m from first to last.
    let field = |body: &[u8], key: &str| -> String {
        let pairs = ticketgate::alipay::form::split(body);
        ticketgate::alipay::form::decode(&pairs, Charset::Utf8).unwrap()[key].clone()
    };
    let ids: std::collections::HashSet<String> =
        all.iter().map(|r| field(&r.body, "notify_id")).collect();
    assert_eq!(ids.len(), 1);
    let sent_first = time::parse(&field(&all[0].body, "notify_time")).unwrap();
    let sent_last = time::parse(&field(&all[7].body, "notify_time")).unwrap();
    let span = sent_last - sent_first;
    assert!(
        (24 * HOUR_MS + 24 * 60_000..24 * HOUR_MS + 25 * 60_000).contains(&span),
        "attempts spanned {span} ms of the merchant's time"
    );
    let times: Vec<i64> = all
        .iter()
        .map(|r| time::parse(&field(&r.body, "notify_time")).unwrap())
        .collect();
    let gaps: Vec<i64> = times.windows(2).map(|w| (w[1] - w[0]) / 60_000).collect();
    assert_eq!(
        gaps,
        [4, 10, 10, 60, 120, 360, 900],
        "minutes between attempts"
    );
}

#[tokio::test]
async fn a_fault_answers_instead_of_the_operation_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(CARD).await;
    let added = admin::fault_add(
        app.service(),
        NewFault {
            times: Some(1),
            ..fault(USE, "SYSTEM_ERROR")
        },
    )
    .await
    .unwrap();
    let id = added["fault_id"].as_str().unwrap().to_string();
    let use_one =
        json!({"request_id": "f1", "ticket_code": code, "shop_id": SHOP, "quantity": "1"});
    let refused = app.use_(use_one.clone()).await;
    assert_refused(&refused, "SYSTEM_ERROR");
    assert_eq!(refused.node["sub_msg"], "系统繁忙，请重试");
    assert_eq!(available(&app.query(&code).await), "10");
    // Spent: the same request now runs, for the first time (no BIZ_ALREADY_SUCCESS).
    let used = app.use_(use_one).await;
    assert_success(&used);
    assert!(used.node.get("biz_code").is_none(), "{}", used.node_text);
    assert_eq!(available(&app.query(&code).await), "9");
    let listed = admin::fault_list(app.service()).await.unwrap();
    let f = &listed["faults"][0];
    assert_eq!(
        (&f["fault_id"], &f["hits"], &f["remaining"], &f["active"]),
        (&json!(id), &json!(1), &json!(0), &json!(false))
    );
    // The request log names the fault that answered.
    let filter = LogFilter {
        method: Some(USE.into()),
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let faulted = loop {
        let f = filter.clone();
        let rows = app
            .store()
            .read(op!(|tx| [f: LogFilter = f] -> Vec<(i64, String, String)> { tx.read_log(&f, None, 100).await }))
            .await
            .unwrap();
        let entries: Vec<Value> = rows
            .iter()
            .map(|(_, _, e)| serde_json::from_str(e).unwrap())
            .collect();
        if entries.len() >= 2 || Instant::now() > deadline {
            break entries;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(faulted[0]["fault"], json!(id), "{faulted:?}");
    assert_eq!(faulted[0]["sub_code"], "SYSTEM_ERROR");
    assert!(faulted[1].get("fault").is_none());
    app.assert_consistent(&code).await;
}

#[tokio::test]
async fn faults_answer_any_published_code_until_cleared() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    admin::fault_add(app.service(), fault(QUERY, "20000"))
        .await
        .unwrap();
    for _ in 0..3 {
        let r = app.query(&code).await; // the answer is signed: `call` checks it
        assert_eq!(r.code(), "20000", "{}", r.node_text);
        assert_eq!(r.node["msg"], "Service Currently Unavailable");
        assert_eq!(r.sub_code(), "isp.unknow-error");
    }
    admin::fault_clear(app.service(), None).await.unwrap();
    assert_success(&app.query(&code).await);

    admin::fault_add(
        app.service(),
        fault(CANCEL, "20001:aop.invalid-app-auth-token"),
    )
    .await
    .unwrap();
    let r = app.cancel_use("c1", "nope", &code).await;
    assert_eq!(r.code(), "20001", "{}", r.node_text);
    assert_eq!(r.node["sub_msg"], "无效的应用授权令牌");
    let added = admin::fault_add(app.service(), fault(USE, "40004:TICKET_NOT_EXIST"))
        .await
        .unwrap();
    assert_refused(&app.use_code("u1", &code).await, "TICKET_NOT_EXIST");
    let id = added["fault_id"].as_str().unwrap();
    assert_eq!(
        admin::fault_clear(app.service(), Some(id)).await.unwrap()["cleared"],
        1
    );
    assert_success(&app.use_code("u1", &code).await);
    assert!(matches!(
        admin::fault_clear(app.service(), Some(id)).await,
        Err(AdminError::NotFound(_))
    ));
    // What cannot be a fault is refused.
    for bad in [
        fault("koubei.no.such.method", "SYSTEM_ERROR"),
        fault(USE, "10000:OK"),
        fault(USE, "40004"),
        NewFault {
            method: USE.into(),
            ..Default::default()
        },
        NewFault {
            app_id: Some("2021999999999999".into()),
            ..fault(USE, "SYSTEM_ERROR")
        },
    ] {
        let refused = admin::fault_add(app.service(), bad.clone()).await;
        assert!(
            matches!(
                refused,
                Err(AdminError::Invalid(_) | AdminError::NotFound(_))
            ),
            "{bad:?}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn an_after_commit_fault_loses_the_answer_and_a_retry_recovers_it() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    admin::fault_add(
        app.service(),
        NewFault {
            method: USE.into(),
            after_commit: true,
            times: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let lost = app.use_code("lost1", &code).await;
    assert_eq!(lost.code(), "20000", "{}", lost.node_text);
    assert_eq!(lost.sub_code(), "isp.unknow-error");
    // It committed: the ticket is used.
    let shown = app.query(&code).await;
    assert_eq!(shown.field("ticket_status"), "USED", "{}", shown.node_text);
    let retry = app.use_code("lost1", &code).await;
    assert_success(&retry);
    assert_eq!(retry.field("biz_code"), "BIZ_ALREADY_SUCCESS");
    // A cancel can then find the use it was never told about.
    let cancel_order = retry.field("ticket_trans_id").to_string();
    assert!(!cancel_order.is_empty());
    assert_success(&app.cancel_use("c1", "lost1", &code).await);
    app.assert_consistent(&code).await;
}

#[tokio::test]
async fn faults_narrow_to_an_app_and_a_ticket_and_can_only_delay() {
    let app = TestApp::spawn().await;
    let codes = app.issue(NORMAL, 2).await;
    admin::fault_add(
        app.service(),
        NewFault {
            ticket_code: Some(codes[0].clone()),
            ..fault(USE, "SYSTEM_ERROR")
        },
    )
    .await
    .unwrap();
    admin::fault_add(
        app.service(),
        NewFault {
            app_id: Some(A2.into()),
            ..fault(QUERY, "SYSTEM_ERROR")
        },
    )
    .await
    .unwrap();
    assert_success(&app.use_code("u2", &codes[1]).await);
    assert_refused(&app.use_code("u1", &codes[0]).await, "SYSTEM_ERROR");
    assert_success(&app.query(&codes[0]).await); // A1 is not A2
    let other = app
        .call_as(A2, QUERY, json!({"ticket_code": codes[0], "shop_id": SHOP}))
        .await;
    assert_refused(&other, "SYSTEM_ERROR");

    admin::fault_clear(app.service(), None).await.unwrap();
    admin::fault_add(
        app.service(),
        NewFault {
            method: QUERY.into(),
            latency_ms: 400,
            times: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let started = Instant::now();
    assert_success(&app.query(&codes[1]).await);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "the fault's latency was not applied"
    );
}

// Multi-threaded: the test blocks on another process while the server keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_clocks_set_from_another_process_apply_to_the_running_server() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let added = run_json(cli(&app).args([
        "fault",
        "add",
        "--method",
        USE,
        "--answer",
        "SYSTEM_ERROR",
        "--times",
        "1",
    ]));
    assert_eq!(added["remaining"], 1);
    // The command returned: the server obeys at once.
    assert_refused(&app.use_code("x1", &code).await, "SYSTEM_ERROR");
    let listed = run_json(cli(&app).args(["fault", "list"]));
    assert_eq!(listed["faults"][0]["hits"], 1);

    let moved = run_json(cli(&app).args(["clock", "advance", "--merchant", M1, "--by", "366d"]));
    assert_eq!(moved["test_clock"], true);
    assert_eq!(
        app.query(&code).await.field("ticket_status"),
        "UN_EFFECTIVE"
    );
    let out = cli(&app)
        .args([
            "clock",
            "set",
            "--merchant",
            M1,
            "--at",
            "2020-01-01 00:00:00",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only move forward"));
    run_json(cli(&app).args(["clock", "reset", "--merchant", M1]));
    assert_eq!(app.query(&code).await.field("ticket_status"), "EFFECTIVE");
}

#[tokio::test]
async fn fixtures_load_once_and_reset_keeps_the_platform_key() {
    let mut app = TestApp::spawn().await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/fixtures/shop.json"
    ))
    .unwrap();
    let keys = app.data().join("keys").join("apps");
    let loaded = admin::fixtures_load(app.service(), &text, &keys)
        .await
        .unwrap();
    assert_eq!(loaded["tickets_issued"], 112);
    assert_eq!(loaded["made"]["shops"].as_array().unwrap().len(), 2);
    let key_file = loaded["private_keys"]["2021000000000101"].as_str().unwrap();
    let again = admin::fixtures_load(app.service(), &text, &keys)
        .await
        .unwrap();
    assert_eq!(again["made"], json!({}));
    assert_eq!(again["existing"]["orders"].as_array().unwrap().len(), 3);

    // The generated key pair works: call as the fixture app on a fixture ticket.
    let tickets = admin::list(
        app.service(),
        admin::Listing::Tickets,
        Some("FIXTURE0003".into()),
        10,
    )
    .await
    .unwrap();
    assert_eq!(tickets["tickets"][0]["code"], "LUNCH-0001");
    let first = loaded["made"]["orders"][0]["first_codes"][0]
        .as_str()
        .unwrap();
    let key = PrivateKey::from_text(&std::fs::read_to_string(key_file).unwrap()).unwrap();
    let client = Client::new(
        &app.gateway,
        "2021000000000101",
        key,
        app.platform_public_key(),
        SignType::Rsa2,
        Charset::Utf8,
    );
    let reply = client
        .call(
            USE,
            &json!({"request_id": "fx1", "ticket_code": first, "shop_id": "2018000000000102"})
                .to_string(),
            &[],
        )
        .await
        .unwrap();
    assert!(reply.verified);
    assert_success(&reply);
    // A bad entry is named.
    let bad = admin::fixtures_load(
        app.service(),
        r#"{"shops":[{"merchant":"2088999999999999","shop_id":"s","name":"n"}]}"#,
        &keys,
    )
    .await;
    assert!(
        matches!(&bad, Err(e) if e.to_string().contains("shops[0]")),
        "{bad:?}"
    );
    assert!(matches!(
        admin::fixtures_load(app.service(), r#"{"shop":[]}"#, &keys).await,
        Err(AdminError::Invalid(_))
    ));

    let platform = app.platform_public_key().to_pem();
    assert!(matches!(
        admin::reset(app.service(), false).await,
        Err(AdminError::Invalid(_))
    ));
    let reset = admin::reset(app.service(), true).await.unwrap();
    assert!(reset["deleted"]["tickets"].as_u64().unwrap() >= 112);
    let merchants = admin::list(app.service(), admin::Listing::Merchants, None, 0)
        .await
        .unwrap();
    assert_eq!(merchants["merchants"], json!([]));
    app.restart().await;
    assert_eq!(app.platform_public_key().to_pem(), platform);
    // Loading into the emptied store works again.
    let reloaded = admin::fixtures_load(app.service(), &text, &keys)
        .await
        .unwrap();
    assert_eq!(reloaded["tickets_issued"], 112);
}

/// Reads the receiver's stdout lines as they come.
fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<Value> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                return;
            }
        }
    });
    rx
}

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// Multi-threaded: the test blocks on another process while the server keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_prints_verifies_and_fails_as_told() {
    let mut app = TestApp::unstarted_fresh().await;
    app.notify.workers = 1;
    app.start("127.0.0.1:0").await;
    app.seed().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args(["receive", "--listen", &listen, "--fail", "1"])
        .arg("--platform-public-key")
        .arg(app.platform_public_key().to_pem())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut child);
    let _guard = Kill(child);
    let url = format!("http://{listen}/notify");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(Instant::now() < deadline, "the receiver did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let code = app.issue_one(NORMAL).await;
    assert_success(&app.use_notifying("r1", &code, &url).await);
    let first = lines.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(first["verified"], true, "{first}");
    assert_eq!(first["answer"], "fail");
    assert_eq!(first["attempt"], 1);
    assert_eq!(first["params"]["ticket_code"], code);
    assert_eq!(first["notify_type"], "koubei_ticket_openapi_use_notify");
    // The retry is 4 minutes away: move the merchant's clock past it.
    wait_for(&app, "the first attempt", |n| n["attempts"] == 1).await;
    admin::clock_advance(app.service(), M1, 5 * 60_000)
        .await
        .unwrap();
    let second = lines.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["answer"], "success");
    assert_eq!(second["notify_id"], first["notify_id"]);
    let delivered = wait_for(&app, "delivered", |n| n["status"] == "delivered").await;
    assert_eq!(delivered["attempts"], 2);

    // A notification the receiver cannot verify (another key signed it) says why, and is
    // answered `fail`, as a handler must answer it.
    let forged = {
        let key = PrivateKey::generate();
        let mut params = ticketgate::alipay::form::Params::new();
        params.insert("notify_id".into(), "forged".into());
        params.insert("sign_type".into(), "RSA2".into());
        let content =
            ticketgate::alipay::sign::content(&params, ticketgate::alipay::sign::NOTIFICATION);
        params.insert("sign".into(), key.sign(SignType::Rsa2, content.as_bytes()));
        ticketgate::alipay::form::encode(&params, Charset::Utf8)
    };
    let answer = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(forged)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(answer, "fail");
    let third = lines.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(third["answer"], "fail");
    assert_eq!(third["verified"], false);
    assert!(
        third["why_unverified"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{third}"
    );
}

/// `--drop`: the client's connection is closed without any answer — before the operation
/// (nothing written) or after its commit (the effect is durable; the retry recovers it).
#[tokio::test]
async fn a_dropping_fault_closes_the_connection_before_or_after_the_commit() {
    let app = TestApp::spawn().await;
    let codes = app.issue(NORMAL, 2).await;
    let dropping = |after_commit: bool| NewFault {
        method: USE.into(),
        answer: Some(ticketgate::sandbox::DROP.into()),
        after_commit,
        times: Some(1),
        ..Default::default()
    };
    let use_biz =
        |id: &str, code: &str| json!({"request_id": id, "ticket_code": code, "shop_id": SHOP});

    // Before: no answer at all, and nothing written.
    let added = admin::fault_add(app.service(), dropping(false))
        .await
        .unwrap();
    assert_eq!(added["drop"], true);
    let dead = app
        .client()
        .call(USE, &use_biz("d1", &codes[0]).to_string(), &[])
        .await;
    assert!(
        dead.is_err(),
        "the connection closes without an answer: {:?}",
        dead.map(|r| r.body)
    );
    assert_eq!(
        app.query(&codes[0]).await.field("ticket_status"),
        "EFFECTIVE"
    );
    let first = app.use_code("d1", &codes[0]).await;
    assert_success(&first);
    assert!(first.node.get("biz_code").is_none(), "{}", first.node_text);

    // After the commit: the use is made, the client sees a dead connection, the retry with
    // the same request_id answers BIZ_ALREADY_SUCCESS.
    admin::fault_add(app.service(), dropping(true))
        .await
        .unwrap();
    let dead = app
        .client()
        .call(USE, &use_biz("d2", &codes[1]).to_string(), &[])
        .await;
    assert!(dead.is_err(), "the connection closes without an answer");
    assert_eq!(app.query(&codes[1]).await.field("ticket_status"), "USED");
    let retry = app.use_code("d2", &codes[1]).await;
    assert_success(&retry);
    assert_eq!(retry.field("biz_code"), "BIZ_ALREADY_SUCCESS");
    app.assert_consistent(&codes[1]).await;

    // The request log has both calls, dropped.
    let filter = LogFilter {
        method: Some(USE.into()),
        failed_only: true,
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let f = filter.clone();
        let rows = app
            .store()
            .read(op!(|tx| [f: LogFilter = f] -> Vec<(i64, String, String)> {
                tx.read_log(&f, None, 10).await
            }))
            .await
            .unwrap();
        let dropped = rows
            .iter()
            .filter(|(_, _, e)| e.contains("DROPPED"))
            .count();
        if dropped == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{dropped} dropped calls in the log"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
