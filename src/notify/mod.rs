//! Notifications (`koubei_ticket_openapi_use_notify`): the message written to the outbox in the
//! same transaction as the use or cancel, and the worker that delivers it until acknowledged.

pub mod message;
pub mod worker;

use crate::alipay::{Charset, SignType};

/// Where and how a call's notification goes: the call's `notify_url`, or else the app's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub app_id: String,
    /// For an ISV call: the merchant the app acted for.
    pub auth_app_id: Option<String>,
    pub charset: Charset,
    pub sign_type: SignType,
}

/// The published retry schedule: after the first failed attempt wait 4m, then 10m, …
pub const DEFAULT_SCHEDULE: &str = "4m,10m,10m,1h,2h,6h,15h";

/// Parses a schedule such as `4m,10m,1h` into milliseconds.
pub fn parse_schedule(text: &str) -> Result<Vec<i64>, String> {
    let steps: Result<Vec<i64>, String> = text
        .split(',')
        .map(|part| match crate::config::parse_duration_ms(part)? {
            Some(ms) if ms > 0 => Ok(ms),
            _ => Err(format!(
                "a schedule step must be a positive duration, got {part:?}"
            )),
        })
        .collect();
    let steps = steps?;
    if steps.len() > 32 {
        return Err("at most 32 retries".into());
    }
    Ok(steps)
}
