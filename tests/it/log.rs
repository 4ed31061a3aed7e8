//! The request log: every call recorded with what the gateway saw, read back with `admin log`,
//! bounded to its size.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use ticketgate::alipay::{Charset, PrivateKey, SignType};
use ticketgate::client::Client;
use ticketgate::gateway::Limits;
use ticketgate::store::LogFilter;

use crate::helpers::*;
use ticketgate::store::op;

const BIN: &str = env!("CARGO_BIN_EXE_ticketgate");

/// The newest `limit` entries that pass `filter`, once at least `want` are there.
async fn entries(app: &TestApp, filter: LogFilter, want: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let f = filter.clone();
        let rows = app
            .store()
            .read(op!(|tx| [f: LogFilter = f] -> Vec<(i64, String, String)> { tx.read_log(&f, None, 1000).await }))
            .await
            .unwrap();
        if rows.len() >= want || Instant::now() > deadline {
            return rows
                .into_iter()
                .map(|(_, _, e)| serde_json::from_str(&e).unwrap())
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `ticketgate admin log …` against the test server's store.
fn admin_log(app: &TestApp) -> Command {
    let mut command = Command::new(BIN);
    command.arg("admin").arg("--data").arg(app.data());
    match &app.database_url {
        Some(url) => command.arg("--database-url").arg(url),
        None => command.env_remove("TICKETGATE_DATABASE_URL"),
    };
    command.arg("log");
    command
}

#[tokio::test]
async fn every_call_is_logged_with_what_the_gateway_saw() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    assert_success(&app.query(&code).await);
    // A bad signature, and an ISV call with a token.
    let stranger = Client::new(
        &app.gateway,
        A1,
        PrivateKey::generate(),
        app.platform_public_key(),
        SignType::Rsa2,
        Charset::Utf8,
    );
    let bad = stranger.call(QUERY, &query_biz(&code), &[]).await.unwrap();
    assert_eq!(bad.sub_code(), "isv.invalid-signature");
    let token = ticketgate::operations::admin::grant_token(app.service(), A3, M1, None)
        .await
        .unwrap()["app_auth_token"]
        .as_str()
        .unwrap()
        .to_string();
    let isv = app.client_for(A3, SignType::Rsa2, Charset::Utf8);
    assert_success(
        &isv.call(QUERY, &query_biz(&code), &[("app_auth_token", &token)])
            .await
            .unwrap(),
    );

    let all = entries(&app, LogFilter::default(), 3).await;
    assert_eq!(all.len(), 3, "{all:#?}");
    let good = &all[0];
    assert_eq!(good["app_id"], A1);
    assert_eq!(good["merchant_pid"], M1);
    assert_eq!(good["method"], QUERY);
    assert_eq!(good["verified"], true);
    assert_eq!(good["code"], "10000");
    assert!(
        good["sign_string"]
            .as_str()
            .unwrap()
            .starts_with(&format!("app_id={A1}&biz_content="))
    );
    assert_eq!(good["params"]["biz_content"], query_biz(&code));
    assert_eq!(
        good["params"]["sign"].as_str().unwrap().chars().count(),
        7,
        "cut short"
    );
    assert_eq!(good["answer"]["ticket_status"], "EFFECTIVE");
    assert!(good["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(
        good["time"].as_str().unwrap().len() == 23,
        "{}",
        good["time"]
    );
    let failed = &all[1];
    assert_eq!(failed["verified"], false);
    assert_eq!(failed["sub_code"], "isv.invalid-signature");
    assert!(
        failed["diagnosis"]
            .as_str()
            .unwrap()
            .starts_with("[WRONG_KEY] ")
    );
    assert_eq!(failed["answer"]["sub_code"], "isv.invalid-signature");
    let via_token = &all[2];
    assert_eq!(via_token["app_id"], A3);
    assert_eq!(
        via_token["merchant_pid"], M1,
        "the merchant the token acts for"
    );
    let shown = via_token["params"]["app_auth_token"].as_str().unwrap();
    assert!(
        shown.ends_with('…') && !shown.contains(&token[8..]),
        "redacted: {shown}"
    );

    // Filters.
    let only_failed = entries(
        &app,
        LogFilter {
            failed_only: true,
            ..LogFilter::default()
        },
        1,
    )
    .await;
    assert_eq!(only_failed.len(), 1);
    let of_a3 = entries(
        &app,
        LogFilter {
            app_id: Some(A3.into()),
            ..LogFilter::default()
        },
        1,
    )
    .await;
    assert_eq!(of_a3.len(), 1);
    let of_use = entries(
        &app,
        LogFilter {
            method: Some(USE.into()),
            ..LogFilter::default()
        },
        0,
    )
    .await;
    assert!(of_use.is_empty());

    // The same through `admin log`, one JSON object a line.
    let out = admin_log(&app)
        .args(["--failed", "--limit", "5"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["sub_code"], "isv.invalid-signature");
    let out = admin_log(&app).args(["--limit", "2"]).output().unwrap();
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "the newest two, oldest first");
    assert_eq!(lines[1]["app_id"], A3);

    // --follow prints calls as they come.
    let mut follow = admin_log(&app)
        .args(["--follow", "--limit", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(follow.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains(A3), "the newest so far: {line}");
    app.use_code("u1", &code).await;
    let next = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        line
    });
    let line = tokio::time::timeout(Duration::from_secs(15), next)
        .await
        .expect("a new line")
        .unwrap();
    let entry: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(entry["method"], USE);
    assert_eq!(entry["answer"]["request_id"], "u1");
    follow.kill().unwrap();
    follow.wait().unwrap();
}

#[tokio::test]
async fn the_log_keeps_its_size() {
    let app = TestApp::spawn_with(Limits {
        request_log_size: 10,
        ..TestApp::default_limits()
    })
    .await;
    let code = app.issue_one(NORMAL).await;
    for _ in 0..40 {
        app.query(&code).await;
    }
    // The last batch is written and trimmed within the log's linger time.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = entries(&app, LogFilter::default(), 0).await;
        if rows.len() <= 12 || Instant::now() > deadline {
            assert!(
                rows.len() <= 12 && rows.len() >= 10,
                "{} entries",
                rows.len()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The process's resident memory in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn megabytes_of_junk_leave_the_log_and_the_metrics_small() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();
    let junk = "m".repeat(300 * 1024);
    let before = rss_kib();
    for i in 0..60 {
        let body = format!("method={junk}{i}&app_id={junk}&biz_content={junk}");
        let response = http
            .post(&app.gateway)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    // Many parameters, each short enough to be kept whole: the entry keeps the first 32 KiB of
    // them and counts the rest.
    let many = (0..9_000)
        .map(|i| format!("k{i}={}", "y".repeat(100)))
        .collect::<Vec<_>>()
        .join("&");
    let response = http
        .post(&app.gateway)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("method=m&{many}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let logged = entries(&app, LogFilter::default(), 61).await;
    assert_eq!(logged.len(), 61);
    let many = logged
        .iter()
        .find(|e| e["method"] == "m")
        .expect("the call with many parameters is logged");
    assert!(
        many["params"]["…"]
            .as_str()
            .is_some_and(|t| t.ends_with("more parameters not kept")),
        "{}",
        many["params"]["…"]
    );
    for entry in &logged {
        let size = entry.to_string().len();
        assert!(size < 40 * 1024, "an entry of {size} bytes");
    }
    let metrics = reqwest::get(app.gateway.replace("/gateway.do", "/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.len() < 64 * 1024,
        "{} bytes of metrics",
        metrics.len()
    );
    // 60 requests of 900 KiB went through; what stays is bounded (the allocator may keep some).
    let grown = rss_kib().saturating_sub(before);
    eprintln!("RSS grew by {grown} KiB");
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB");
}
