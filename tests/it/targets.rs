//! `--notify-targets`: a node that may send notifications only to some addresses refuses a
//! notify_url whose address is outside them when the call is made (40002, nothing written),
//! checks a host name on the addresses it resolves to when an attempt connects, keeps what a
//! target answered out of `last_error`, and `admin app add` refuses such a stored address.
//! Each node is `serve --ephemeral` as users start it, with the flag or its variable.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::instances::{client_of as client, ephemeral};
use ticketgate::client::Reply;

const BIN: &str = env!("CARGO_BIN_EXE_ticketgate");
const USE: &str = "koubei.trade.ticket.ticketcode.use";
const QUERY: &str = "koubei.trade.ticket.ticketcode.query";

async fn use_notifying(info: &Value, n: usize, rid: &str, url: &str) -> Reply {
    let biz = json!({
        "request_id": rid,
        "ticket_code": info["tickets"]["normal"][n],
        "shop_id": info["shop_id"],
    });
    client(info)
        .call(USE, &biz.to_string(), &[("notify_url", url)])
        .await
        .unwrap()
}

async fn status(info: &Value, n: usize) -> String {
    let biz = json!({"ticket_code": info["tickets"]["normal"][n], "shop_id": info["shop_id"]});
    let reply = client(info)
        .call(QUERY, &biz.to_string(), &[])
        .await
        .unwrap();
    reply.field("ticket_status").to_string()
}

/// `admin notify list` of the node's folder.
fn notifications(info: &Value) -> Vec<Value> {
    let data = std::path::Path::new(info["data"].as_str().unwrap());
    let list = crate::cli::json_of(&crate::cli::admin(data, "notify list"));
    list["notifications"].as_array().unwrap().clone()
}

/// Waits until the notification for `url` has been attempted at least once.
async fn attempted(info: &Value, url: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = notifications(info)
            .into_iter()
            .find(|n| n["url"] == url && n["attempts"].as_i64().unwrap_or(0) > 0);
        if let Some(n) = found {
            return n;
        }
        assert!(Instant::now() < deadline, "no attempt to {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_refuses_local_addresses_at_call_time_and_local_names_when_connecting() {
    let (_node, info) = ephemeral(&["--notify-targets", "public", "--no-console"]);
    // Something listening on loopback that must never be reached.
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    receiver.set_nonblocking(true).unwrap();
    let port = receiver.local_addr().unwrap().port();
    for (i, url) in [
        format!("http://127.0.0.1:{port}/notify"),
        format!("http://2130706433:{port}/notify"),
        format!("http://[::1]:{port}/notify"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("http://10.0.0.1:{port}/"),
    ]
    .iter()
    .enumerate()
    {
        let reply = use_notifying(&info, 0, &format!("refused{i}"), url).await;
        assert!(reply.verified);
        assert_eq!(reply.code(), "40002", "{url}: {}", reply.body);
        assert_eq!(reply.sub_code(), "isv.invalid-parameter", "{url}");
        assert!(reply.body.contains("--notify-targets"), "{}", reply.body);
    }
    assert_eq!(status(&info, 0).await, "EFFECTIVE", "nothing was written");
    assert!(notifications(&info).is_empty());

    // A name is accepted when the call is made, and checked on what it resolves to.
    let url = format!("http://localhost:{port}/notify");
    let reply = use_notifying(&info, 0, "byname", &url).await;
    assert_eq!(reply.code(), "10000", "{}", reply.body);
    let n = attempted(&info, &url).await;
    let error = n["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("refused by --notify-targets: localhost resolves to"),
        "{error}"
    );
    assert!(
        receiver.accept().is_err(),
        "the loopback receiver was never connected to"
    );
}

/// A receiver on a fresh loopback port that answers every request with `body` and counts them.
fn answering(body: &'static str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 65536];
            let _ = stream.read(&mut buf);
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_allows_its_networks_and_keeps_answers_out_of_last_error() {
    let (_node, info) = ephemeral(&["--notify-targets", "127.0.0.0/8", "--no-console"]);
    let (port, count) = answering("success");
    let url = format!("http://127.0.0.1:{port}/ok");
    assert_eq!(
        use_notifying(&info, 0, "listed", &url).await.code(),
        "10000"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !notifications(&info)
        .iter()
        .any(|n| n["url"] == url && n["status"] == "delivered")
    {
        assert!(Instant::now() < deadline, "{:?}", notifications(&info));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    // IPv6 loopback is not in the list.
    let reply = use_notifying(&info, 1, "v6", &format!("http://[::1]:{port}/")).await;
    assert_eq!(reply.code(), "40002", "{}", reply.body);
    // What an allowed target answers is not repeated in last_error.
    let (port, _) = answering("<html>internal admin page: secret-token-123</html>");
    let url = format!("http://127.0.0.1:{port}/page");
    assert_eq!(use_notifying(&info, 1, "page", &url).await.code(), "10000");
    let n = attempted(&info, &url).await;
    let error = n["last_error"].as_str().unwrap();
    assert!(!error.contains("secret"), "{error}");
    assert!(error.contains("bytes, not \"success\""), "{error}");
}

#[test]
fn app_add_refuses_a_stored_address_outside_the_targets() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let key = dir.path().join("app.pem");
    std::fs::write(&key, crate::helpers::app_key(0).public_key().to_pem()).unwrap();
    let admin = |args: &[&str], targets: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args(["admin", "--data", data])
            .args(args)
            .env_remove("TICKETGATE_DATABASE_URL")
            .env_remove("TICKETGATE_NOTIFY_TARGETS");
        if let Some(t) = targets {
            cmd.env("TICKETGATE_NOTIFY_TARGETS", t);
        }
        cmd.output().unwrap()
    };
    let out = admin(
        &[
            "merchant",
            "add",
            "--pid",
            "2088000000000077",
            "--name",
            "m",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app = |id: &'static str, url: &'static str| {
        vec![
            "app",
            "add",
            "--app-id",
            id,
            "--merchant",
            "2088000000000077",
            "--public-key",
            key.to_str().unwrap(),
            "--notify-url",
            url,
        ]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<String>>()
    };
    let args = app("2021000000000771", "http://127.0.0.1:9/n");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = admin(&args, Some("public"));
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--notify-targets"));
    // The flag, as well as the variable; and without either, loopback is fine (the sandbox).
    let mut flagged = vec!["--notify-targets", "public"];
    flagged.extend(&args);
    assert_eq!(admin(&flagged, None).status.code(), Some(2));
    let out = admin(&args, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
