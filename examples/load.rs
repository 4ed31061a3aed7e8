//! A load run: starts a node in this process on a fresh store, seeds a tenant and tickets,
//! pre-signs every request, then sends them over loopback HTTP with fixed concurrency and
//! reports throughput and latency per method as one markdown row each.
//!
//!     cargo run --release --example load -- [--database-url URL] [--sqlite-batch-max N]
//!                                           [--requests N] [--concurrency C] [--label TEXT]
//!
//! `scripts/bench` runs it for each configuration and writes `bench/results.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use ticketgate::alipay::form::{self, Params};
use ticketgate::alipay::{Charset, PrivateKey, SignType};
use ticketgate::client::Client;
use ticketgate::config::StoreArgs;
use ticketgate::gateway::Limits;
use ticketgate::notify::worker::Settings;
use ticketgate::operations::admin;
use ticketgate::server::{self, ServeConfig};
use ticketgate::store::StoreLimits;

const MERCHANT: &str = "2088000000000001";
const APP: &str = "2021000000000001";
const SHOP: &str = "S1";
const ITEM: &str = "I1";

struct Args {
    database_url: Option<String>,
    batch_max: usize,
    requests: usize,
    concurrency: usize,
    label: String,
}

fn args() -> Args {
    let mut args = Args {
        database_url: None,
        batch_max: 64,
        requests: 3000,
        concurrency: 32,
        label: "sqlite".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--database-url" => args.database_url = Some(value),
            "--sqlite-batch-max" => args.batch_max = value.parse().expect("a number"),
            "--requests" => args.requests = value.parse().expect("a number"),
            "--concurrency" => args.concurrency = value.parse().expect("a number"),
            "--label" => args.label = value,
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

#[tokio::main]
async fn main() {
    let args = args();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let running = server::start(ServeConfig {
        listen: "127.0.0.1:0".into(),
        clock: ticketgate::clock::system(),
        store: StoreArgs {
            data: dir.path().to_path_buf(),
            database_url: args.database_url.clone(),
        },
        demo: false,
        limits: Limits {
            timestamp_skew_ms: None,
            max_body_bytes: 1 << 20,
            call_limit_per_second: None,
        },
        pool: StoreLimits {
            sqlite_batch_max: args.batch_max,
            ..StoreLimits::default()
        },
        notify: Settings {
            workers: 0,
            ..Settings::default()
        },
    })
    .await
    .expect("the node starts");
    let store = running.service.clone();
    let key = PrivateKey::generate();
    admin::add_merchant(&store, MERCHANT, "bench")
        .await
        .unwrap();
    admin::add_app(
        &store,
        admin::NewApp {
            app_id: APP.into(),
            merchant_pid: MERCHANT.into(),
            public_key: key.public_key().to_pem(),
            sign_type: "RSA2".into(),
            charset: "utf-8".into(),
            notify_url: None,
        },
    )
    .await
    .unwrap();
    admin::add_shop(&store, MERCHANT, SHOP, "bench shop")
        .await
        .unwrap();
    admin::add_item(
        &store,
        admin::NewItem {
            merchant_pid: MERCHANT.into(),
            item_id: ITEM.into(),
            name: "bench item".into(),
            price: "10".into(),
            original_price: None,
            alias: None,
            times: None,
            shops: None,
            valid_from: None,
            valid_to: None,
        },
    )
    .await
    .unwrap();
    let mut codes = Vec::with_capacity(args.requests);
    while codes.len() < args.requests {
        let n = (args.requests - codes.len()).min(100);
        let order = admin::issue_order(&store, ITEM, n, None, None)
            .await
            .unwrap();
        codes.extend(
            order["tickets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_string()),
        );
    }
    let gateway = server::gateway_url(running.addr);
    let client = Client::new(
        &gateway,
        APP,
        key,
        running.service.platform_key.public_key(),
        SignType::Rsa2,
        Charset::Utf8,
    );
    let signed = |method: &str, biz: serde_json::Value| -> String {
        let params: Params = client.sign(client.params(method, &biz.to_string(), &[]));
        form::encode(&params, Charset::Utf8)
    };
    let phases: Vec<(&str, Vec<String>)> = vec![
        (
            "query",
            codes.iter().map(|c| signed("koubei.trade.ticket.ticketcode.query", json!({"ticket_code": c, "shop_id": SHOP}))).collect(),
        ),
        (
            "use",
            codes
                .iter()
                .enumerate()
                .map(|(i, c)| signed("koubei.trade.ticket.ticketcode.use", json!({"request_id": format!("u{i}"), "ticket_code": c, "shop_id": SHOP})))
                .collect(),
        ),
        (
            "cancel",
            codes
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    signed(
                        "koubei.trade.ticket.ticketcode.cancel",
                        json!({"request_id": format!("c{i}"), "request_biz_no": format!("u{i}"), "ticket_code": c}),
                    )
                })
                .collect(),
        ),
    ];
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .unwrap();
    for (method, bodies) in phases {
        let (elapsed, mut latencies, failures) =
            blast(&http, &gateway, Arc::new(bodies), args.concurrency).await;
        latencies.sort();
        let pct =
            |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
        println!(
            "| {} | {method} | {} | {} | {:.0} | {:.1} | {:.1} | {failures} |",
            args.label,
            latencies.len(),
            args.concurrency,
            latencies.len() as f64 / elapsed.as_secs_f64(),
            pct(0.50).as_secs_f64() * 1000.0,
            pct(0.99).as_secs_f64() * 1000.0,
        );
    }
    running.shutdown().await.unwrap();
}

/// Sends every body once, `concurrency` at a time; returns the wall time, each latency, and
/// how many answers were not `10000`.
async fn blast(
    http: &reqwest::Client,
    gateway: &str,
    bodies: Arc<Vec<String>>,
    concurrency: usize,
) -> (Duration, Vec<Duration>, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, gateway, bodies, next) = (
                http.clone(),
                gateway.to_string(),
                bodies.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let t = Instant::now();
                    let text = http
                        .post(&gateway)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body.clone())
                        .send()
                        .await
                        .expect("the node answers")
                        .text()
                        .await
                        .expect("a body");
                    latencies.push(t.elapsed());
                    if !text.contains(r#""code":"10000""#) {
                        failures += 1;
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut failures = 0;
    for w in workers {
        let (l, f) = w.await.unwrap();
        all.extend(l);
        failures += f;
    }
    (started.elapsed(), all, failures)
}
