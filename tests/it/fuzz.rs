//! The fuzz harness: validly signed mutants of every method's biz_content and of the gateway
//! parameters, and raw byte mutations of whole requests, against a real server. Every answer
//! must be HTTP 200, well-formed JSON with one node, and verify with the platform key; the
//! server must stay up; every ticket's quantity must still agree with its transactions.
//!
//!   FUZZ_CASES=3000 (the default, what CI runs), FUZZ_SEED=1 (fixed): reproducible.
//!   FUZZ_CASES=1000000 cargo test --release --test it fuzz -- --nocapture   the long run
//!   (libtest: nextest stops a test after 300 s).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use ticketgate::alipay::envelope;
use ticketgate::alipay::form::{self, Params};
use ticketgate::alipay::sign;
use ticketgate::alipay::{Charset, PublicKey, SignType};
use ticketgate::operations::methods::METHODS;

use crate::helpers::*;

/// xorshift64*: small, fixed, good enough to spread cases.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Values that have broken parsers before.
fn nasty(rng: &mut Rng, codes: &[String]) -> Value {
    match rng.below(16) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(
            123456789012345678901234567890u128
                .to_string()
                .parse::<f64>()
                .unwrap()
        ),
        3 => json!(-1),
        4 => json!(0),
        5 => json!("x".repeat(rng.below(300))),
        6 => json!("门店{一}\"\\/\u{0}\r\n😀"),
        7 => json!({"a": [1, {"b": null}]}),
        8 => json!([rng.pick(codes), "2"]),
        9 => json!(""),
        10 => json!("2026-13-45 25:61:61"),
        11 => json!("EXTERNAL_CODE"),
        12 => json!(rng.pick(codes)),
        13 => json!("1.5"),
        14 => json!("\u{feff}%00%ZZ+&=?"),
        _ => json!(rng.next().to_string()),
    }
}

/// A plausible biz_content for `method`, then mutated.
fn biz_for(rng: &mut Rng, method: &str, codes: &[String], order: &str, n: usize) -> Value {
    let code = rng.pick(codes).clone();
    let rid = format!("f{n}");
    let mut biz = match method.rsplit('.').next().unwrap_or("") {
        "use" => json!({"request_id": rid, "ticket_code": code, "shop_id": SHOP, "quantity": "1"}),
        "cancel" => {
            json!({"request_id": rid, "request_biz_no": format!("f{}", n.saturating_sub(1)), "ticket_code": code})
        }
        "query" if method.contains("order") => json!({"order_no": order}),
        "query" => json!({"ticket_code": code, "shop_id": SHOP}),
        "delay" => {
            json!({"request_id": rid, "order_no": order, "ticket_code": code, "end_date": "2099-01-01 00:00:00"})
        }
        "refund" => json!({"request_id": rid, "ticket_code": code, "trans_id": "x"}),
        "send" => {
            json!({"request_id": rid, "order_no": order, "send_order_no": "s", "send_token": "t",
                          "isv_ma_list": [{"code": "FZ", "num": 1}]})
        }
        "checkavailable" => {
            json!({"order_no": order, "send_order_no": "s", "send_token": "t", "ticket_code": code, "shop_id": SHOP})
        }
        "sync" => json!({"request_id": rid, "ticket_code": code, "quantity": "0"}),
        "close" => {
            json!({"request_id": rid, "order_no": order, "send_order_no": "s", "send_token": "t"})
        }
        _ => json!({"request_id": rid}),
    };
    let object = biz.as_object_mut().unwrap();
    for _ in 0..rng.below(4) {
        let keys: Vec<String> = object.keys().cloned().collect();
        match rng.below(3) {
            0 if !keys.is_empty() => {
                object.remove(rng.pick(&keys));
            }
            1 if !keys.is_empty() => {
                let key = rng.pick(&keys).clone();
                object.insert(key, nasty(rng, codes));
            }
            _ => {
                let key = rng
                    .pick(&[
                        "quantity",
                        "code_type",
                        "order_no",
                        "gmt_biz",
                        "shop_type",
                        "ext",
                        "zz",
                    ])
                    .to_string();
                object.insert(key, nasty(rng, codes));
            }
        }
    }
    biz
}

/// What an answer must be: one node and its `sign`, the node verifying over its bytes in the
/// charset it was sent in.
fn check_answer(
    body: &[u8],
    key: &PublicKey,
    sign_type: SignType,
    charset: Option<Charset>,
) -> Result<(), String> {
    let charsets = match charset {
        Some(c) => vec![c],
        None => vec![Charset::Utf8, Charset::Gbk],
    };
    for charset in charsets {
        let Some(text) = charset.decode(body) else {
            continue;
        };
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let name = map
            .keys()
            .find(|k| *k != "sign")
            .cloned()
            .ok_or("no node")?;
        if map.len() != 2 || !map[&name].is_object() || map[&name].get("code").is_none() {
            return Err(format!("not one node with a code: {text}"));
        }
        let (node, sign) = envelope::split(&text, &name).ok_or("the node cannot be cut out")?;
        let sign = sign.ok_or("no sign")?;
        for st in [sign_type, SignType::Rsa2, SignType::Rsa] {
            if key.verify(st, &charset.encode(&node), &sign) {
                return Ok(());
            }
        }
        return Err(format!("does not verify: {text}"));
    }
    Err(format!(
        "not JSON in any charset: {}",
        String::from_utf8_lossy(body)
    ))
}

fn mutate_bytes(rng: &mut Rng, bytes: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(6) {
        if bytes.is_empty() {
            bytes.push(b'=');
        }
        let at = rng.below(bytes.len());
        match rng.below(5) {
            0 => bytes[at] = rng.next() as u8,
            1 => bytes.insert(at, *rng.pick(b"&=%+\x00\xff\xc0{}\"")),
            2 => {
                bytes.remove(at);
            }
            3 => {
                let end = (at + rng.below(16)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
            _ => bytes.truncate(at),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_requests_get_well_formed_signed_answers_and_break_no_invariant() {
    let cases: usize = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let app = Arc::new(TestApp::spawn().await);
    let mut codes = app.issue(NORMAL, 20).await;
    codes.extend(app.issue(CARD, 5).await);
    let order = app.order_of(&codes[0]).await;
    let codes = Arc::new(codes);
    let platform = app.platform_public_key();
    let methods: Vec<&str> = METHODS
        .iter()
        .map(|m| m.name)
        .chain([
            "koubei.trade.ticket.ticketcode.nope",
            "x\",\"y\":{\"code\":\"10000\"},\"z",
            "",
        ])
        .collect();
    let http = reqwest::Client::new();
    let signed_ok = Arc::new(AtomicUsize::new(0));
    let tasks = 4;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (app, codes, order, platform, http, methods, signed_ok) = (
            app.clone(),
            codes.clone(),
            order.clone(),
            platform.clone(),
            http.clone(),
            methods.clone(),
            signed_ok.clone(),
        );
        handles.push(tokio::spawn(async move {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (t as u64 + 1));
            // One client per sign type and charset (making one sets up TLS: not per case).
            let clients: Vec<_> = [SignType::Rsa2, SignType::Rsa]
                .into_iter()
                .flat_map(|st| [Charset::Utf8, Charset::Gbk, Charset::Gb2312].map(|cs| (st, cs)))
                .map(|(st, cs)| ((st, cs), app.client_for(A1, st, cs)))
                .collect();
            for n in (t..cases).step_by(tasks) {
                let method = *rng.pick(&methods);
                let sign_type = if rng.chance(20) {
                    SignType::Rsa
                } else {
                    SignType::Rsa2
                };
                let charset = *rng.pick(&[Charset::Utf8, Charset::Gbk, Charset::Gb2312]);
                let client = &clients
                    .iter()
                    .find(|(k, _)| *k == (sign_type, charset))
                    .expect("every combination")
                    .1;
                let biz = biz_for(&mut rng, method, &codes, &order, n);
                let mut params: Params = client.params(method, &biz.to_string(), &[]);
                // Gateway parameters, mutated before signing.
                if rng.chance(30) {
                    let key = rng
                        .pick(&[
                            "timestamp",
                            "version",
                            "format",
                            "charset",
                            "notify_url",
                            "app_auth_token",
                            "method",
                            "biz_content",
                        ])
                        .to_string();
                    match rng.below(3) {
                        0 => {
                            params.remove(&key);
                        }
                        1 => {
                            let v = nasty(&mut rng, &codes);
                            params.insert(key, v.as_str().map_or(v.to_string(), str::to_string));
                        }
                        _ => {
                            params.insert(key, String::new());
                        }
                    }
                }
                let raw = rng.chance(25);
                let good_signature = !raw && rng.chance(85);
                let params = if good_signature {
                    signed_ok.fetch_add(1, Ordering::Relaxed);
                    sign::sign_request(params, app_key(0), sign_type, charset)
                } else {
                    let mut p = params;
                    p.insert("sign".into(), "bm90IGEgc2lnbmF0dXJl".into());
                    p
                };
                let mut body = form::encode(&params, charset).into_bytes();
                if raw {
                    mutate_bytes(&mut rng, &mut body);
                }
                let response = http
                    .post(&app.gateway)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "case {n}: no answer ({e}) to {}",
                            String::from_utf8_lossy(&body)
                        )
                    });
                assert_eq!(response.status(), 200, "case {n}");
                let bytes = response.bytes().await.unwrap();
                let declared = (!raw)
                    .then_some(charset)
                    .filter(|_| params.get("charset").is_some_and(|c| c == charset.name()));
                if let Err(why) = check_answer(&bytes, &platform, sign_type, declared) {
                    panic!(
                        "case {n} ({method}): {why}\nrequest: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    eprintln!(
        "fuzz: {cases} cases (seed {seed}), {} validly signed",
        signed_ok.load(Ordering::Relaxed)
    );
    // Still up, and every invariant holds.
    assert_success(&app.query(&codes[0]).await);
    for code in codes.iter() {
        app.assert_consistent(code).await;
    }
}
