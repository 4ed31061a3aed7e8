//! The signed envelope for every answer: success, business refusal or gateway error.

use std::time::Instant;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::check::Context;
use super::dispatch::Failure;
use crate::alipay::codes::{self, Status};
use crate::alipay::envelope;
use crate::operations::Service;

/// The node's status fields, first in the node.
fn status_node(status: &Status) -> Map<String, Value> {
    let mut node = Map::new();
    node.insert("code".into(), status.code.into());
    node.insert("msg".into(), status.msg.into());
    node.insert("sub_code".into(), status.sub_code.clone().into());
    node.insert("sub_msg".into(), status.sub_msg.clone().into());
    node
}

/// Builds the node for an outcome.
pub fn node(outcome: Result<Map<String, Value>, Failure>) -> Map<String, Value> {
    match outcome {
        Ok(fields) => {
            let mut node = Map::new();
            node.insert("code".into(), codes::SUCCESS_CODE.into());
            node.insert("msg".into(), codes::SUCCESS_MSG.into());
            node.extend(fields);
            node
        }
        Err(Failure::Gateway(e)) => status_node(&e.status()),
        Err(Failure::Refused(r)) => status_node(&Status {
            code: codes::BUSINESS_FAILED_CODE,
            msg: codes::BUSINESS_FAILED_MSG,
            sub_code: r.sub_code().to_string(),
            sub_msg: r.sub_msg(),
        }),
    }
}

/// Serialises the node once, signs exactly those bytes with the platform key in the
/// request's sign type, and wraps them. HTTP 200 always.
pub fn respond(
    app: &Service,
    ctx: &Context,
    outcome: Result<Map<String, Value>, Failure>,
    started: Instant,
) -> Response {
    let name = match &ctx.method {
        Some(method) => envelope::node_name(method),
        None => envelope::ERROR_NODE.to_string(),
    };
    let node = node(outcome);
    let bytes = envelope::node_bytes(&node, ctx.charset);
    let sign = app.platform_key.sign(ctx.sign_type, &bytes);
    let body = envelope::body(&name, &bytes, &sign, ctx.charset);
    let content_type = format!("application/json;charset={}", ctx.charset.name());
    let field = |key: &str| node.get(key).and_then(Value::as_str).unwrap_or_default();
    let (code, sub_code) = (field("code"), field("sub_code"));
    let method = ctx.method.as_deref().unwrap_or("");
    app.metrics.call(method, code, sub_code, started.elapsed());
    tracing::debug!(
        method,
        code,
        sub_code,
        ms = started.elapsed().as_millis() as u64,
        "answered"
    );
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type).expect("charset names are ASCII"),
    );
    response
}
