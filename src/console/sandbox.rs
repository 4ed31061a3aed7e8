//! The console's sandbox routes: clocks, faults, an app's duplicate delivery and the
//! notification probe, each the admin operation of the same name.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Console, answer, json_response};
use crate::operations::admin::{self, AdminError};

pub(super) async fn sandbox(State(c): State<Arc<Console>>) -> Response {
    let clocks = match admin::clock_show(&c.svc, None).await {
        Ok(v) => v,
        Err(e) => return answer(Err(e)),
    };
    let faults = match admin::fault_list(&c.svc).await {
        Ok(v) => v,
        Err(e) => return answer(Err(e)),
    };
    json_response(
        StatusCode::OK,
        &json!({"clocks": clocks["clocks"], "faults": faults["faults"]}),
    )
}

pub(super) fn body_json(body: &Bytes) -> Result<Value, AdminError> {
    serde_json::from_slice(body)
        .map_err(|e| AdminError::Invalid(format!("the request body is not JSON: {e}")))
}

pub(super) async fn clock_advance(
    State(c): State<Arc<Console>>,
    UrlPath(pid): UrlPath<String>,
    body: Bytes,
) -> Response {
    let run = async {
        let v = body_json(&body)?;
        let by = v["by"].as_str().unwrap_or_default();
        // Not a duration is 0, which the operation refuses as it refuses every backward step.
        let ms = crate::config::parse_duration_ms(by)
            .ok()
            .flatten()
            .unwrap_or(0);
        admin::clock_advance(&c.svc, &pid, ms).await
    };
    answer(run.await)
}

pub(super) async fn clock_reset(
    State(c): State<Arc<Console>>,
    UrlPath(pid): UrlPath<String>,
) -> Response {
    answer(admin::clock_reset(&c.svc, &pid).await)
}

pub(super) async fn fault_add(State(c): State<Arc<Console>>, body: Bytes) -> Response {
    let run = async {
        let v = body_json(&body)?;
        let text = |k: &str| v[k].as_str().filter(|s| !s.is_empty()).map(str::to_string);
        let latency_ms = match text("latency") {
            None => 0,
            Some(t) => match crate::config::parse_duration_ms(&t) {
                Ok(Some(ms)) => ms,
                _ => {
                    return Err(AdminError::Invalid(format!(
                        "latency {t:?} is not a duration"
                    )));
                }
            },
        };
        let new = admin::NewFault {
            method: text("method").unwrap_or_default(),
            app_id: text("app_id"),
            ticket_code: text("ticket_code"),
            answer: if v["drop"].as_bool() == Some(true) {
                Some(crate::sandbox::DROP.to_string())
            } else {
                text("answer")
            },
            times: v["times"]
                .as_i64()
                .or_else(|| text("times").and_then(|t| t.parse().ok())),
            after_commit: v["after_commit"].as_bool().unwrap_or(false),
            latency_ms,
        };
        admin::fault_add(&c.svc, new).await
    };
    answer(run.await)
}

/// `{"app_id": …, "url": …}`: `notify probe` of a handler (the report as `admin` gives it).
pub(super) async fn notify_probe(State(c): State<Arc<Console>>, body: Bytes) -> Response {
    let run = async {
        let v = body_json(&body)?;
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        admin::notify_probe(&c.svc, &c.data, &text("app_id"), &text("url")).await
    };
    answer(run.await)
}

/// `{"on": true}`: deliver the app's notifications twice (`admin app notify-twice`).
pub(super) async fn notify_twice(
    State(c): State<Arc<Console>>,
    UrlPath(app_id): UrlPath<String>,
    body: Bytes,
) -> Response {
    let run = async {
        let v = body_json(&body)?;
        let on = v["on"].as_bool().unwrap_or(true);
        admin::set_notify_twice(&c.svc, &app_id, on).await
    };
    answer(run.await)
}

pub(super) async fn fault_clear(
    State(c): State<Arc<Console>>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    answer(admin::fault_clear(&c.svc, Some(&id)).await)
}

pub(super) async fn faults_clear(State(c): State<Arc<Console>>) -> Response {
    answer(admin::fault_clear(&c.svc, None).await)
}
