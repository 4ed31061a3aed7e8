//! The floor of `scripts/bench`: a server that does only what every gateway call must do —
//! read an HTTP/1.1 request, decode its form, verify its RSA signature with the app's key, sign
//! an answer with the platform key and write it — and nothing else: no store, no ledger, no
//! checks beyond the signature. Measured like `ticketgate serve`, it tells how much of a call's
//! CPU the protocol's cryptography and HTTP leave to everything else on this machine.
//!
//!     floor --listen ADDR --app-public-key PEM --platform-private-key PEM
//!           [--http axum|raw] [--workers N] [--durable FILE]
//!
//! `axum` serves through the same HTTP stack as the gateway; `raw` reads and writes the
//! sockets itself (one read and one write a call when the client keeps to one request at a
//! time), a bound for any HTTP library. `--durable FILE` (with `axum`) adds the least a durable
//! write can cost: each verified call's `biz_content` is appended to FILE by a writer thread
//! that group-commits (one `write` and one `fdatasync` for whatever queued up meanwhile), and
//! the call is answered after its `fdatasync` — the floor for `use` and `cancel`.

use std::sync::Arc;

use ticketgate::alipay::form;
use ticketgate::alipay::sign::{self, REQUEST_WITH_EMPTIES};
use ticketgate::alipay::{Charset, Params, PrivateKey, PublicKey, SignType, envelope};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What every connection shares: the two keys, and the durable floor's writer if it runs.
struct Floor {
    app: PublicKey,
    platform: PrivateKey,
    journal: Option<Journal>,
}

/// A record for the durable floor's writer, and where to say it is on disk.
type Record = (Vec<u8>, tokio::sync::oneshot::Sender<()>);
type Journal = std::sync::mpsc::Sender<Record>;

/// The durable floor's writer: appends each record, one `fdatasync` a batch, then answers.
fn journal(path: &str) -> Journal {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let (sender, receiver) = std::sync::mpsc::channel::<Record>();
    std::thread::Builder::new()
        .name("floor-journal".into())
        .spawn(move || {
            let mut bytes = Vec::new();
            let mut waiting = Vec::new();
            while let Ok(first) = receiver.recv() {
                let mut next = Some(first);
                while let Some((record, done)) = next {
                    bytes.extend_from_slice(&record);
                    bytes.push(b'\n');
                    waiting.push(done);
                    next = receiver.try_recv().ok();
                }
                file.write_all(&bytes).expect("the journal is writable");
                file.sync_data().expect("the journal syncs");
                bytes.clear();
                for done in waiting.drain(..) {
                    let _ = done.send(());
                }
            }
        })
        .expect("a journal thread");
    sender
}

/// A form body's parameters, and whether their signature verifies with the app's key.
fn check(floor: &Floor, body: &[u8]) -> (Params, bool) {
    let pairs = form::split(body);
    let params = form::decode(&pairs, Charset::Utf8).unwrap_or_default();
    let field = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let sign_type = SignType::parse(field("sign_type")).unwrap_or(SignType::Rsa2);
    let content = sign::content(&params, REQUEST_WITH_EMPTIES);
    let verified = floor
        .app
        .verify(sign_type, content.as_bytes(), field("sign"));
    (params, verified)
}

/// The answer: a signed envelope, `10000` when the request's signature verified, `40002`
/// otherwise. The node has the size of a `query` answer for a used ticket.
fn answer(floor: &Floor, params: &Params, verified: bool) -> Vec<u8> {
    let field = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let sign_type = SignType::parse(field("sign_type")).unwrap_or(SignType::Rsa2);
    let method = field("method");
    let node = if verified {
        let biz: serde_json::Value = serde_json::from_str(field("biz_content")).unwrap_or_default();
        let code = biz["ticket_code"].as_str().unwrap_or("");
        format!(
            r#"{{"code":"10000","msg":"Success","ticket_code":"{code}","ticket_status":"EFFECTIVE","ticket_status_desc":"可使用","item_id":"I1","item_name":"bench item","original_price":"10.00","current_price":"10.00","effect_date":"2026-12-01 00:00:00","expire_date":"2027-12-01 00:00:00","available_quantity":"1","total_quantity":"1","order_no":"20261201000000000001","ticket_trans_info_list":[{{"ticket_trans_id":"20261201000000000002","ticket_trans_type":"USE","creation_time":"2026-12-01 10:00:00","last_modify_time":"2026-12-01 10:00:00","quantity":"1","amount":"10.00","shop_id":"S1"}}]}}"#
        )
    } else {
        r#"{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"bad signature"}"#.to_string()
    };
    let name = if envelope::is_method_name(method) {
        envelope::node_name(method)
    } else {
        envelope::ERROR_NODE.to_string()
    };
    let signature = floor.platform.sign(sign_type, node.as_bytes());
    envelope::body(&name, node.as_bytes(), &signature, Charset::Utf8, None)
}

fn main() {
    let mut listen = String::new();
    let mut app = String::new();
    let mut platform = String::new();
    let mut http = "axum".to_string();
    let mut workers = 0usize;
    let mut durable = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => listen = value,
            "--app-public-key" => app = value,
            "--platform-private-key" => platform = value,
            "--http" => http = value,
            "--workers" => workers = value.parse().expect("a number"),
            "--durable" => durable = Some(value),
            other => panic!("unknown flag {other}"),
        }
    }
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let floor = Arc::new(Floor {
        app: PublicKey::from_text(&read(&app)).expect("the app's public key"),
        platform: PrivateKey::from_text(&read(&platform)).expect("the platform's private key"),
        journal: durable.as_deref().map(journal),
    });
    assert!(
        floor.journal.is_none() || http == "axum",
        "--durable goes with --http axum"
    );
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if workers > 0 {
        runtime.worker_threads(workers);
    }
    let runtime = runtime.enable_all().build().expect("a Tokio runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .expect("the listen address");
        match http.as_str() {
            "axum" => serve_axum(listener, floor).await,
            "raw" => serve_raw(listener, floor).await,
            other => panic!("--http axum|raw, not {other}"),
        }
    });
}

async fn serve_axum(listener: tokio::net::TcpListener, floor: Arc<Floor>) {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderValue, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};

    async fn gateway(State(floor): State<Arc<Floor>>, body: Bytes) -> Response {
        let (params, verified) = check(&floor, &body);
        if let (true, Some(journal)) = (verified, &floor.journal) {
            let record = params.get("biz_content").cloned().unwrap_or_default();
            let (done, written) = tokio::sync::oneshot::channel();
            journal
                .send((record.into_bytes(), done))
                .expect("the journal thread runs");
            written.await.expect("the journal answers");
        }
        let mut response = answer(&floor, &params, verified).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=utf-8"),
        );
        response
    }
    let router = axum::Router::new()
        .route("/gateway.do", post(gateway))
        .route("/health", get(|| async { "ok" }))
        .with_state(floor);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn serve_raw(listener: tokio::net::TcpListener, floor: Arc<Floor>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(raw_connection(stream, floor.clone()));
    }
}

/// HTTP/1.1 by hand: headers up to the blank line, `Content-Length` bytes of body, one answer
/// with `Content-Length`; keep-alive until the client closes.
async fn raw_connection(mut stream: tokio::net::TcpStream, floor: Arc<Floor>) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(4 * 1024);
    loop {
        let (head_end, length) = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (end + 4, length);
            }
            if buf.len() == buf.capacity() {
                buf.reserve(buf.len());
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        while buf.len() < head_end + length {
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        let is_post = buf.starts_with(b"POST ");
        let body = if is_post {
            let (params, verified) = check(&floor, &buf[head_end..head_end + length]);
            answer(&floor, &params, verified)
        } else {
            b"ok".to_vec()
        };
        buf.drain(..head_end + length);
        out.clear();
        out.extend_from_slice(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json;charset=utf-8\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&body);
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}
