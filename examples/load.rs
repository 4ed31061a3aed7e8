//! The load generator of `scripts/bench`: drives a `ticketgate serve` running in another
//! process with pre-signed calls over keep-alive connections, reads that process's CPU time
//! and memory from /proc, and prints one JSON line per run.
//!
//!     load --gateway URL --app-id ID --private-key PEM --platform-key PEM --pid PID
//!          --codes FILE --method query|use|cancel [--shop S1] [--prefix P]
//!          [--concurrency 16]                       closed loop: every call once
//!          [--rate R --calls N]                     open loop: N calls at R per second
//!          [--repeat N]                             closed loop over the calls N times
//!          [--idle N]                               first open N keep-alive connections that
//!                                                   each make one request and then stay idle
//!
//! Every answer is checked: `10000` and a signature that verifies with the platform key.
//! Latency in the open loop is measured from each call's scheduled time (no coordinated
//! omission).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use ticketgate::alipay::form::{self, Params};
use ticketgate::alipay::{Charset, PrivateKey, PublicKey, SignType};
use ticketgate::client::Client;

struct Args {
    gateway: String,
    app_id: String,
    private_key: String,
    platform_key: String,
    pid: u32,
    codes: String,
    method: String,
    shop: String,
    prefix: String,
    concurrency: usize,
    rate: Option<f64>,
    calls: Option<usize>,
    repeat: usize,
    idle: usize,
}

fn args() -> Args {
    let mut a = Args {
        gateway: String::new(),
        app_id: String::new(),
        private_key: String::new(),
        platform_key: String::new(),
        pid: 0,
        codes: String::new(),
        method: String::new(),
        shop: "S1".into(),
        prefix: "b".into(),
        concurrency: 16,
        rate: None,
        calls: None,
        repeat: 1,
        idle: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let number = || value.parse::<usize>().expect("a number");
        match flag.as_str() {
            "--gateway" => a.gateway = value,
            "--app-id" => a.app_id = value,
            "--private-key" => a.private_key = value,
            "--platform-key" => a.platform_key = value,
            "--pid" => a.pid = value.parse().expect("a process id"),
            "--codes" => a.codes = value,
            "--method" => a.method = value,
            "--shop" => a.shop = value,
            "--prefix" => a.prefix = value,
            "--concurrency" => a.concurrency = number(),
            "--rate" => a.rate = Some(value.parse().expect("calls per second")),
            "--calls" => a.calls = Some(number()),
            "--repeat" => a.repeat = number(),
            "--idle" => a.idle = number(),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// The server process's CPU seconds (user + system) and resident memory in KiB.
fn server_usage(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the server runs");
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // Linux reports CPU time in USER_HZ, 100 per second on every current architecture.
    (ticks / 100.0, rss_kb)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One pre-signed call per code.
fn bodies(a: &Args, client: &Client, codes: &[String]) -> Vec<String> {
    let (method, p) = (a.method.as_str(), &a.prefix);
    codes
        .iter()
        .enumerate()
        .map(|(i, code)| {
            let (name, biz) = match method {
                "query" => ("query", json!({"ticket_code": code, "shop_id": a.shop})),
                "use" => (
                    "use",
                    json!({"request_id": format!("{p}u{i}"), "ticket_code": code, "shop_id": a.shop}),
                ),
                "cancel" => (
                    "cancel",
                    json!({"request_id": format!("{p}c{i}"), "request_biz_no": format!("{p}u{i}"), "ticket_code": code}),
                ),
                other => panic!("unknown method {other}"),
            };
            let full = format!("koubei.trade.ticket.ticketcode.{name}");
            let params: Params = client.sign(client.params(&full, &biz.to_string(), &[]));
            form::encode(&params, Charset::Utf8)
        })
        .collect()
}

/// Sends one call and checks its answer.
async fn send(http: &reqwest::Client, client: &Client, method: &str, body: &str) -> bool {
    let Ok(response) = http
        .post(&client.gateway)
        .header(
            "content-type",
            "application/x-www-form-urlencoded;charset=utf-8",
        )
        .body(body.to_string())
        .send()
        .await
    else {
        return false;
    };
    let Ok(bytes) = response.bytes().await else {
        return false;
    };
    client
        .read(method, &bytes)
        .is_ok_and(|reply| reply.verified && reply.code() == "10000")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let codes: Vec<String> = read(&a.codes).lines().map(str::to_string).collect();
    let client = Arc::new(Client::new(
        &a.gateway,
        &a.app_id,
        PrivateKey::from_text(&read(&a.private_key)).expect("the app's private key"),
        PublicKey::from_text(&read(&a.platform_key)).expect("the platform public key"),
        SignType::Rsa2,
        Charset::Utf8,
    ));
    let method = format!("koubei.trade.ticket.ticketcode.{}", a.method);
    let bodies = Arc::new(bodies(&a, &client, &codes));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency.max(64))
        .build()
        .unwrap();
    let idle = open_idle(&a.gateway, a.idle).await;
    // One call first, so that connections and caches are warm.
    let warm = send(&http, &client, &method, &bodies[0]).await;
    let (cpu_before, rss_before) = server_usage(a.pid);
    let started = Instant::now();
    let (latencies, failures) = match a.rate {
        None => closed_loop(&http, &client, &method, &bodies, a.concurrency, a.repeat).await,
        Some(rate) => {
            let calls = a.calls.unwrap_or(bodies.len());
            open_loop(&http, &client, &method, &bodies, rate, calls).await
        }
    };
    let wall = started.elapsed().as_secs_f64();
    let (cpu_after, rss_after) = server_usage(a.pid);
    let mut sorted = latencies.clone();
    sorted.sort();
    let pct = |p: f64| {
        sorted
            .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let calls = latencies.len();
    let cpu = cpu_after - cpu_before;
    println!(
        "{}",
        json!({
            "method": a.method,
            "mode": if a.rate.is_some() { "open" } else { "closed" },
            "rate_asked": a.rate,
            "calls": calls,
            "failures": failures + usize::from(!warm),
            "wall_s": wall,
            "calls_per_s": calls as f64 / wall,
            "server_cpu_s": cpu,
            "calls_per_cpu_s": calls as f64 / cpu.max(1e-9),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "rss_kb_before": rss_before,
            "rss_kb_after": rss_after,
            "idle_asked": a.idle,
            "idle_answered": idle.len(),
            "idle_still_open": still_open(&idle),
        })
    );
}

/// Every call `repeat` times, `concurrency` at a time.
async fn closed_loop(
    http: &reqwest::Client,
    client: &Arc<Client>,
    method: &str,
    bodies: &Arc<Vec<String>>,
    concurrency: usize,
    repeat: usize,
) -> (Vec<Duration>, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let total = bodies.len() * repeat;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, client, bodies, next) =
                (http.clone(), client.clone(), bodies.clone(), next.clone());
            let method = method.to_string();
            tokio::spawn(async move {
                let (mut latencies, mut failures) = (Vec::new(), 0);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let t = Instant::now();
                    let ok = send(&http, &client, &method, &bodies[i % bodies.len()]).await;
                    latencies.push(t.elapsed());
                    failures += usize::from(!ok);
                }
                (latencies, failures)
            })
        })
        .collect();
    let (mut all, mut failures) = (Vec::with_capacity(total), 0);
    for w in workers {
        let (l, f) = w.await.unwrap();
        all.extend(l);
        failures += f;
    }
    (all, failures)
}

/// `calls` calls at `rate` per second, each sent at its scheduled time whatever the others
/// are doing; latency counts from the scheduled time. The calls are paced by a thread of their
/// own sleeping to each due time (tens of microseconds late at most): the runtime's timer ticks
/// in whole milliseconds, which would add up to a millisecond to every latency measured.
async fn open_loop(
    http: &reqwest::Client,
    client: &Arc<Client>,
    method: &str,
    bodies: &Arc<Vec<String>>,
    rate: f64,
    calls: usize,
) -> (Vec<Duration>, usize) {
    let runtime = tokio::runtime::Handle::current();
    let (http, client, bodies) = (http.clone(), client.clone(), bodies.clone());
    let method = method.to_string();
    let pacer = std::thread::spawn(move || {
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(calls);
        for i in 0..calls {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let (http, client, bodies, method) =
                (http.clone(), client.clone(), bodies.clone(), method.clone());
            tasks.push(runtime.spawn(async move {
                let ok = send(&http, &client, &method, &bodies[i % bodies.len()]).await;
                (due.elapsed(), ok)
            }));
        }
        tasks
    });
    let tasks = tokio::task::spawn_blocking(move || pacer.join().expect("the pacer"))
        .await
        .expect("the pacer's join");
    let (mut all, mut failures) = (Vec::with_capacity(calls), 0);
    for t in tasks {
        let (latency, ok) = t.await.unwrap();
        all.push(latency);
        failures += usize::from(!ok);
    }
    (all, failures)
}

/// Opens `n` connections (a hundred at a time) that each send `GET /health` with keep-alive and
/// read its answer, and returns those that were answered, left open and idle. Past the server's
/// connection limit, the ones opened first are closed by it to admit the later ones.
async fn open_idle(gateway: &str, n: usize) -> Vec<tokio::net::TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = reqwest::Url::parse(gateway).expect("the gateway URL");
    let addr = format!(
        "{}:{}",
        url.host_str().expect("a host"),
        url.port_or_known_default().expect("a port")
    );
    let mut open = Vec::with_capacity(n);
    for start in (0..n).step_by(100) {
        let batch: Vec<_> = (start..n.min(start + 100))
            .map(|_| {
                let addr = addr.clone();
                tokio::spawn(async move {
                    let exchange = async {
                        let mut stream = tokio::net::TcpStream::connect(&addr).await.ok()?;
                        let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n");
                        stream.write_all(request.as_bytes()).await.ok()?;
                        let mut buf = [0u8; 512];
                        let read = stream.read(&mut buf).await.ok()?;
                        (read > 0).then_some(stream)
                    };
                    tokio::time::timeout(Duration::from_secs(15), exchange)
                        .await
                        .ok()
                        .flatten()
                })
            })
            .collect();
        for task in batch {
            open.extend(task.await.expect("an idle connection's task"));
        }
    }
    open
}

/// How many of the idle connections the server has not closed.
fn still_open(idle: &[tokio::net::TcpStream]) -> usize {
    let mut buf = [0u8; 1];
    idle.iter()
        .filter(|s| matches!(s.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock))
        .count()
}
