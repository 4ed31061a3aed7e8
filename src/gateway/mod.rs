//! HTTP: `GET`/`POST /gateway.do` → verify → dispatch by method → signed envelope.

mod check;
mod dispatch;
mod limit;
pub mod log;
mod respond;

use std::net::SocketAddr;
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
}

struct Gateway {
    svc: Service,
    limits: Limits,
    keys: KeyCache,
    call_limit: Option<limit::CallLimit>,
    log: Option<log::RequestLog>,
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

/// Readiness: the store takes a (empty) write and answers within a second — on SQLite that is
/// the writer thread, on PostgreSQL a transaction. `/health` stays a liveness check.
async fn ready(State(gw): State<Arc<Gateway>>) -> Response {
    let probe = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        gw.svc.store.write_op(Probe),
    )
    .await;
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

/// A write that writes nothing.
struct Probe;

impl crate::store::Operation for Probe {
    type Output = ();

    async fn run<T: crate::store::LedgerTx>(
        &self,
        tx: &mut T,
    ) -> Result<(), crate::store::StoreError> {
        tx.apply(&crate::store::Plan::new(0)).await
    }
}

async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    let mut response = gw.svc.metrics.render().into_response();
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
    let query = form::split(parts.uri.query().unwrap_or("").as_bytes());
    let is_multipart = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/"));
    let body = match axum::body::to_bytes(body, gw.limits.max_body_bytes).await {
        Ok(bytes) => Ok(if is_multipart {
            Vec::new()
        } else {
            form::split(&bytes)
        }),
        Err(e) => Err(body_error(&e, gw.limits.max_body_bytes)),
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
            )
            .await;
            match outcome {
                Ok(call) => (dispatch::dispatch(&gw.svc, call).await, ctx),
                Err(e) => (Err(dispatch::Failure::Gateway(e)), ctx),
            }
        }
        Err(why) => {
            let ctx = check::Context::from_query(&query);
            let e = crate::alipay::codes::GatewayError::InvalidParameter(why);
            (Err(dispatch::Failure::Gateway(e)), ctx)
        }
    };
    respond::respond(&gw.svc, ctx, node, started, gw.log.as_ref())
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

/// Binds `addr` and serves until `shutdown` resolves; in-flight requests are finished.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
