//! HTTP: `GET`/`POST /gateway.do` → verify → dispatch by method → signed envelope.

mod check;
mod conn;
mod dispatch;
mod limit;
pub mod log;
mod lookup;
mod respond;

pub use conn::serve;

use crate::store::op;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};

use crate::alipay::form;
use crate::operations::Service;

/// Gateway settings.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How far a request's `timestamp` may be from now (GMT+8); `None` accepts any.
    pub timestamp_skew_ms: Option<i64>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Most calls per second per app on this node; `None` for no limit.
    pub call_limit_per_second: Option<u32>,
    /// Calls kept in the request log (0: no log).
    pub request_log_size: usize,
    /// Longest wait for a request's headers (and for the next request on an idle connection).
    pub header_read_timeout: std::time::Duration,
    /// Longest wait for a request's body.
    pub body_read_timeout: std::time::Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

struct Gateway {
    svc: Service,
    limits: Limits,
    keys: KeyCache,
    call_limit: Option<limit::CallLimit>,
    log: Option<log::RequestLog>,
    large: tokio::sync::Semaphore,
}

/// Requests with a body over [`LARGE_UNIT`] take one permit per unit of it from a budget of
/// [`LARGE_BUDGET`] units (4 MiB) while they are read and answered, and wait for it in turn: a
/// burst of a thousand 1 MB requests is handled a few at a time, so the memory it takes, and
/// what the allocator keeps of it afterwards, stays a few megabytes (the official SDKs' calls
/// are a few kilobytes and take none).
const LARGE_UNIT: usize = 64 * 1024;
const LARGE_BUDGET: u32 = 64;

/// The permits a request's body takes (a body of unknown length counts as the largest).
fn large_units(headers: &axum::http::HeaderMap, max_body: usize) -> u32 {
    let length = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .unwrap_or(max_body)
        .min(max_body);
    if length <= LARGE_UNIT {
        0
    } else {
        (length.div_ceil(LARGE_UNIT) as u32).min(LARGE_BUDGET)
    }
}

/// Parsed app public keys by their PEM text. With OpenSSL 3, reading a PEM key costs more CPU
/// than the RSA verification itself (profiled: a third of a request), so each key is read once.
/// Keyed by the text, so a re-registered key is simply another entry; bounded.
#[derive(Default)]
pub struct KeyCache {
    keys: std::sync::Mutex<std::collections::HashMap<String, crate::alipay::PublicKey>>,
}

impl KeyCache {
    const MAX: usize = 4096;

    pub fn get(&self, pem: &str) -> crate::alipay::PublicKey {
        if let Some(key) = self.keys.lock().expect("key cache lock").get(pem) {
            return key.clone();
        }
        let key =
            crate::alipay::PublicKey::from_text(pem).expect("app keys are checked when registered");
        let mut keys = self.keys.lock().expect("key cache lock");
        if keys.len() >= Self::MAX {
            keys.clear();
        }
        keys.insert(pem.to_string(), key.clone());
        key
    }
}

/// The HTTP routes: the gateway and a health check.
pub fn router(svc: Service, limits: Limits) -> Router {
    let log = (limits.request_log_size > 0)
        .then(|| log::RequestLog::start(svc.store.clone(), limits.request_log_size));
    let state = Arc::new(Gateway {
        svc,
        keys: KeyCache::default(),
        call_limit: limits.call_limit_per_second.map(limit::CallLimit::new),
        log,
        limits,
        large: tokio::sync::Semaphore::new(LARGE_BUDGET as usize),
    });
    Router::new()
        .route("/gateway.do", any(gateway))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "ticketgate: the gateway is at /gateway.do\n",
            )
        })
        .with_state(state)
}

/// Readiness: the store can commit within a second — on SQLite a real commit through the
/// writer thread (see [`crate::store::Store::ping`]), on PostgreSQL a round trip — and is not
/// refusing writes. `/health` stays a liveness check.
async fn ready(State(gw): State<Arc<Gateway>>) -> Response {
    if let Some(why) = gw.svc.store.breaker().writes_refused() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: the store cannot commit ({why}); reads are still answered\n"),
        )
            .into_response();
    }
    let probe = tokio::time::timeout(std::time::Duration::from_secs(1), gw.svc.store.ping()).await;
    match probe {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: the store failed: {e}\n"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the store did not answer within 1 s\n",
        )
            .into_response(),
    }
}

async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    let mut text = gw.svc.metrics.render();
    let mut gauge = |name: &str, help: &str, labels: &str, value: f64| {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{labels} {value}\n"
        ));
    };
    gauge(
        "ticketgate_build_info",
        "This node's version.",
        &format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION")),
        1.0,
    );
    for (name, help, value) in gw.svc.store.gauges() {
        gauge(name, help, "", value);
    }
    // The outbox, from the database: every node's notifications.
    let summary = gw
        .svc
        .store
        .read(op!(|tx| -> Vec<(String, i64, i64)> {
            tx.outbox_summary().await
        }))
        .await;
    if let Ok(rows) = summary {
        let now = gw.svc.now_ms();
        let of = |status: &str| rows.iter().find(|r| r.0 == status);
        for status in ["pending", "parked"] {
            let count = of(status).map_or(0, |r| r.1);
            gauge(
                &format!("ticketgate_outbox_{status}"),
                &format!("Notifications {status}, from every node."),
                "",
                count as f64,
            );
        }
        let oldest = of("pending").map_or(0.0, |r| ((now - r.2).max(0) as f64) / 1000.0);
        gauge(
            "ticketgate_outbox_oldest_pending_seconds",
            "Age of the oldest notification not yet delivered.",
            "",
            oldest,
        );
    }
    let mut response = text.into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

async fn gateway(State(gw): State<Arc<Gateway>>, request: Request<Body>) -> Response {
    let started = std::time::Instant::now();
    let (parts, body) = request.into_parts();
    if parts.method != axum::http::Method::GET && parts.method != axum::http::Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, "use GET or POST\n").into_response();
    }
    let units = large_units(&parts.headers, gw.limits.max_body_bytes);
    let _large = match units {
        0 => None,
        n => Some(gw.large.acquire_many(n).await.expect("never closed")),
    };
    let query = form::split(parts.uri.query().unwrap_or("").as_bytes());
    let content_type = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let is_multipart =
        content_type.is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/"));
    let read = axum::body::to_bytes(body, gw.limits.max_body_bytes);
    let read = match tokio::time::timeout(gw.limits.body_read_timeout, read).await {
        Ok(read) => read.map_err(|e| body_error(&e, gw.limits.max_body_bytes)),
        Err(_) => Err(format!(
            "请求体未在 {} 秒内读完",
            gw.limits.body_read_timeout.as_secs_f64()
        )),
    };
    let body = match read {
        Ok(bytes) => Ok(if is_multipart {
            Vec::new()
        } else {
            form::split(&bytes)
        }),
        Err(why) => Err(why),
    };
    let (node, ctx) = match body {
        Ok(body) => {
            let (outcome, ctx) = check::check(
                &gw.svc,
                &gw.limits,
                &gw.keys,
                gw.call_limit.as_ref(),
                &query,
                &body,
                content_type,
            )
            .await;
            match outcome {
                Ok(call) => {
                    let mut ctx = ctx;
                    ctx.aes = call.aes.clone();
                    let fault = injected_fault(&gw.svc, &call).await;
                    if let (Some(f), Some(facts)) = (&fault, ctx.facts.as_deref_mut()) {
                        facts.fault = Some(f.fault_id.clone());
                    }
                    (dispatch::dispatch(&gw.svc, call, fault).await, ctx)
                }
                Err(e) => (Err(dispatch::Failure::Gateway(e)), ctx),
            }
        }
        Err(why) => {
            let ctx = check::Context::from_query(&query);
            let e = crate::alipay::codes::GatewayError::InvalidParameter(why);
            (Err(dispatch::Failure::Gateway(e)), ctx)
        }
    };
    let response = respond::respond(&gw.svc, ctx, node, started, gw.log.as_ref());
    if _large.is_some() {
        crate::alloc::collect();
    }
    response
}

/// The fault that applies to a call, with one of its calls spent (none are set unless an
/// operator added them: then this is a read lock and an empty list). When the first match
/// turns out spent (its last call taken since this node last read the faults, here or on
/// another node), the faults are read again and the next match in line applies: two faults
/// armed one after the other apply to two calls made one after the other.
async fn injected_fault(svc: &Service, call: &check::Call) -> Option<crate::store::FaultRow> {
    for _ in 0..8 {
        let fault = svc
            .sandbox
            .fault_for(call.method.name, call.who.app_id.as_str(), &call.biz)?;
        let id = fault.fault_id.clone();
        let spent = svc
            .store
            .write(op!(|tx| [id: String = id] -> bool { tx.hit_fault(&id).await }))
            .await;
        match spent {
            Ok(true) => return Some(fault),
            Ok(false) => {
                if svc.sandbox.refresh(&svc.store).await.is_err() {
                    return None;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, fault_id = %fault.fault_id, "could not record a fault's use; not applying it");
                return None;
            }
        }
    }
    None
}

/// What went wrong reading a request body, in words: over the size limit, or not a whole body
/// (a malformed chunk, a connection closed early).
fn body_error(e: &axum::Error, limit: usize) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return format!("请求体超过 {limit} 字节上限");
        }
        source = err.source();
    }
    format!("请求体读取失败（分块编码有误或连接提前关闭）：{e}")
}
