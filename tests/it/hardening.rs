//! What a node started with default flags does under abuse that costs it resources rather than
//! correctness: idle connections at the connection limit, bursts of very large requests. Each
//! runs `serve --ephemeral` as its own process, so that its memory can be read from /proc.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::instances::{client_of as client, ephemeral, ephemeral_from};
use ticketgate::client::Client;

/// `host:port` of the node's gateway.
fn addr(info: &Value) -> String {
    let url = reqwest::Url::parse(info["gateway_url"].as_str().unwrap()).unwrap();
    format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap()
    )
}

/// Sends `request` on a new connection and reads until the node closes it or the answer's
/// head is in; `None` when nothing came back within `within`.
async fn exchange(
    addr: &str,
    request: &[u8],
    within: Duration,
) -> Option<(tokio::net::TcpStream, String)> {
    let work = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream.write_all(request).await.ok()?;
        let mut buf = vec![0u8; 4096];
        let n = stream.read(&mut buf).await.ok()?;
        (n > 0).then(|| (stream, String::from_utf8_lossy(&buf[..n]).into_owned()))
    };
    tokio::time::timeout(within, work).await.ok().flatten()
}

fn signed_query(info: &Value) -> (Client, String) {
    let biz = format!(
        r#"{{"ticket_code":"{}","shop_id":"{}"}}"#,
        info["tickets"]["normal"][0].as_str().unwrap(),
        info["shop_id"].as_str().unwrap()
    );
    (client(info), biz)
}

/// Two thousand keep-alive connections that made one request each and then sit idle, against
/// the default limit of 1,000: each new connection at the limit closes the one idle longest,
/// so a call is answered at once. (With the header timeout raised to two minutes, a node that
/// only waited for idle connections to time out would leave the call unanswered.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_at_the_limit_give_way_to_a_new_call() {
    let (_node, info) = ephemeral(&["--header-read-timeout", "120s", "--no-console"]);
    let addr = addr(&info);
    let health = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut idle = Vec::new();
    for _ in 0..20 {
        let batch: Vec<_> = (0..100)
            .map(|_| {
                let (addr, health) = (addr.clone(), health.clone());
                tokio::spawn(async move {
                    exchange(&addr, health.as_bytes(), Duration::from_secs(30)).await
                })
            })
            .collect();
        for task in batch {
            let (stream, head) = task
                .await
                .unwrap()
                .expect("every idle connection was answered once");
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            idle.push(stream);
        }
    }
    let (client, biz) = signed_query(&info);
    let reply = tokio::time::timeout(
        Duration::from_secs(30),
        client.call("koubei.trade.ticket.ticketcode.query", &biz, &[]),
    )
    .await
    .expect("the call is answered while 2,000 idle connections are open")
    .unwrap();
    assert_eq!(reply.code(), "10000", "{}", reply.body);
    assert!(reply.verified);
    // The node closed the connections idle longest to admit the later ones.
    let mut closed = 0;
    for stream in &mut idle {
        let mut buf = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(20), stream.read(&mut buf)).await
        {
            closed += 1;
        }
    }
    assert!(
        closed >= 1000,
        "at most 1,000 stay open: {closed} of 2,000 closed"
    );
}

/// Resident memory of a process, in KiB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Four hundred unsigned requests at once with a 1 MB `method`, then four hundred with 1 MB of
/// junk parameters: each is answered, and once the node has been idle for 10 s its memory is
/// within twice what it was before (large bodies are read and answered a few at a time, and
/// the request log keeps a bounded entry of each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_comes_back_after_bursts_of_megabyte_requests() {
    let (node, info) = ephemeral(&["--no-console"]);
    let addr = addr(&info);
    let (client, biz) = signed_query(&info);
    let reply = client
        .call("koubei.trade.ticket.ticketcode.query", &biz, &[])
        .await
        .unwrap();
    assert_eq!(reply.code(), "10000");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_kb(node.id());
    let big_method = format!("method={}&app_id=x", "m".repeat(1 << 20));
    let junk = (0..9_000)
        .map(|i| format!("k{i}={}", "y".repeat(100)))
        .collect::<Vec<_>>()
        .join("&");
    for body in [big_method, junk] {
        let request = format!(
            "POST /gateway.do HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded;charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let request = std::sync::Arc::new(request.into_bytes());
        let burst: Vec<_> = (0..400)
            .map(|_| {
                let (addr, request) = (addr.clone(), request.clone());
                // Answered a few at a time: under a loaded test run that takes a while.
                tokio::spawn(async move {
                    exchange(&addr, &request, Duration::from_secs(180))
                        .await
                        .map(|(_, head)| head)
                })
            })
            .collect();
        for task in burst {
            let head = task.await.unwrap().expect("each large request is answered");
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        }
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = rss_kb(node.id());
    eprintln!("RSS: {idle} KiB idle before the bursts, {after} KiB idle 10 s after");
    assert!(
        after <= 2 * idle,
        "RSS {idle} KiB idle before, {after} KiB idle 10 s after the bursts"
    );
    let reply = client
        .call("koubei.trade.ticket.ticketcode.query", &biz, &[])
        .await
        .unwrap();
    assert_eq!(reply.code(), "10000");
}

/// `serve --ephemeral` started through `sh` with SIGXFSZ ignored, so that a file-size limit set
/// on it later (`prlimit`) makes its writes fail with `EFBIG` — a full disk, as far as SQLite can
/// tell, made without root.
fn ephemeral_without_sigxfsz() -> (crate::cli::Served, Value) {
    let mut command = std::process::Command::new("sh");
    command.args([
        "-c",
        "trap '' XFSZ; exec \"$0\" serve --ephemeral --no-console",
        env!("CARGO_BIN_EXE_ticketgate"),
    ]);
    ephemeral_from(command)
}

/// The node's `/ready`: status and body.
async fn ready(info: &Value) -> (u16, String) {
    let url = info["gateway_url"]
        .as_str()
        .unwrap()
        .replace("/gateway.do", "/ready");
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Writes fail (the store's files may not grow: `prlimit --fsize`, as a full disk): each of 30
/// uses, every one on a fresh connection, gets the signed `20000` and changes nothing, a query is
/// still answered, `/ready` says 503 and why; once the limit is lifted the node commits again by
/// itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_commit_answers_every_call_keeps_reads_and_says_not_ready() {
    let (node, info) = ephemeral_without_sigxfsz();
    let pid = node.id().to_string();
    let prlimit = |limit: &str| {
        let status = std::process::Command::new("prlimit")
            .args(["--pid", &pid, &format!("--fsize={limit}")])
            .status()
            .unwrap();
        assert!(status.success());
    };
    assert_eq!(ready(&info).await.0, 200);
    prlimit("4096:unlimited");
    let tickets: Vec<String> = info["tickets"]["normal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let shop = info["shop_id"].as_str().unwrap();
    for i in 0..30 {
        // A client of its own: a fresh connection for every call.
        let biz = format!(
            r#"{{"request_id":"full{i}","ticket_code":"{}","shop_id":"{shop}"}}"#,
            tickets[i % tickets.len()]
        );
        let reply = client(&info)
            .call("koubei.trade.ticket.ticketcode.use", &biz, &[])
            .await
            .unwrap_or_else(|e| panic!("use {i} got no answer: {e}"));
        assert!(reply.verified, "{}", reply.body);
        assert_eq!(reply.code(), "20000", "use {i}: {}", reply.body);
    }
    let query = format!(r#"{{"ticket_code":"{}","shop_id":"{shop}"}}"#, tickets[0]);
    let reply = client(&info)
        .call("koubei.trade.ticket.ticketcode.query", &query, &[])
        .await
        .unwrap();
    assert_eq!(reply.code(), "10000", "reads are answered: {}", reply.body);
    assert_eq!(
        reply.field("ticket_status"),
        "EFFECTIVE",
        "nothing was used"
    );
    let (status, body) = ready(&info).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("cannot commit"), "{body}");

    prlimit("unlimited:unlimited");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while ready(&info).await.0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the node never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let biz = format!(
        r#"{{"request_id":"after","ticket_code":"{}","shop_id":"{shop}"}}"#,
        tickets[0]
    );
    let reply = client(&info)
        .call("koubei.trade.ticket.ticketcode.use", &biz, &[])
        .await
        .unwrap();
    assert_eq!(reply.code(), "10000", "{}", reply.body);
}
