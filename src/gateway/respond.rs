//! The signed envelope for every answer: success, business refusal or gateway error.

use std::time::Instant;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::check::Context;
use super::dispatch::Failure;
use super::log::{Answered, RequestLog};
use crate::alipay::codes;
use crate::alipay::envelope;
use crate::operations::{Service, methods};

/// The node's text: `code` and `msg` first, then the answer's fields or the failure's
/// `sub_code` and `sub_msg`. Compact JSON, serialised once.
pub fn node_text(outcome: Result<&str, &codes::Status>) -> String {
    match outcome {
        Ok(fields) => {
            let head = format!(
                r#"{{"code":"{}","msg":"{}""#,
                codes::SUCCESS_CODE,
                codes::SUCCESS_MSG
            );
            match fields.strip_prefix('{').filter(|rest| *rest != "}") {
                Some(rest) => format!("{head},{rest}"),
                None => format!("{head}}}"),
            }
        }
        Err(status) => serde_json::to_string(&StatusNode {
            code: status.code,
            msg: status.msg,
            sub_code: &status.sub_code,
            sub_msg: &status.sub_msg,
        })
        .expect("a status node always serialises"),
    }
}

#[derive(serde::Serialize)]
struct StatusNode<'a> {
    code: &'a str,
    msg: &'a str,
    sub_code: &'a str,
    sub_msg: &'a str,
}

/// A number for each answered call of this node, to tell log lines apart.
static NEXT_REQUEST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Serialises the node once, signs exactly those bytes with the platform key in the
/// request's sign type, and wraps them. HTTP 200 always.
pub fn respond(
    svc: &Service,
    ctx: Context,
    outcome: Result<String, Failure>,
    started: Instant,
    log: Option<&RequestLog>,
) -> Response {
    let name = match ctx
        .method
        .as_deref()
        .filter(|m| envelope::is_method_name(m))
    {
        Some(method) => envelope::node_name(method),
        None => envelope::ERROR_NODE.to_string(),
    };
    let dropped = matches!(outcome, Err(Failure::Dropped));
    let outcome = outcome.map_err(|failure| failure.status());
    let text = node_text(outcome.as_deref());
    let bytes = match &ctx.aes {
        None => ctx.charset.encode(&text),
        // An encrypted call's answer: the node is a JSON string of the ciphertext, and the
        // signature covers it with its quotes.
        Some(aes) => format!("\"{}\"", aes.encrypt(&ctx.charset.encode(&text))).into_bytes(),
    };
    let sign = svc.platform_key.sign(ctx.sign_type, &bytes);
    let body = envelope::body(&name, &bytes, &sign, ctx.charset, ctx.cert_sn.as_deref());
    let content_type = format!("application/json;charset={}", ctx.charset.name());
    let (code, sub_code) = match &outcome {
        Ok(_) => (codes::SUCCESS_CODE, ""),
        Err(s) => (s.code, s.sub_code.as_str()),
    };
    // Metric labels come from a closed set, so memory stays bounded whatever arrives.
    let method = match ctx.method.as_deref() {
        None => "",
        Some(m) => methods::find(m).map_or("other", |entry| entry.name),
    };
    svc.metrics.call(method, code, sub_code, started.elapsed());
    if let (Some(log), Some(facts)) = (log, ctx.facts) {
        log.record(Answered {
            at: crate::clock::system_now_ms(),
            facts: *facts,
            method: ctx.method.clone().unwrap_or_default(),
            code: code.to_string(),
            sub_code: sub_code.to_string(),
            node: text,
            latency: started.elapsed(),
        });
    }
    tracing::debug!(
        request = NEXT_REQUEST.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        app_id = ctx.app_id.as_deref().unwrap_or(""),
        method,
        code,
        sub_code,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "answered"
    );
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type).expect("charset names are ASCII"),
    );
    if dropped {
        response.extensions_mut().insert(DropConnection);
    }
    response
}

/// Marks a response that must not be sent: the connection is closed instead
/// (`gateway::serve`), as an injected `--drop` fault asks.
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;
