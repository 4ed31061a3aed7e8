//! Notifications (`koubei_ticket_openapi_use_notify`): the message written to the outbox in the
//! same transaction as the use or cancel, and the worker that delivers it until acknowledged.

pub mod message;
pub mod probe;
pub mod targets;
pub mod worker;

use crate::alipay::{Charset, SignType};

/// Where and how a call's notification goes: the call's `notify_url`, or else the app's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub app_id: String,
    /// For an ISV call: the merchant the app acted for.
    pub auth_app_id: Option<String>,
    /// The merchant whose ledger it reports: its test clock, if it has one, schedules it.
    pub merchant_pid: String,
    pub charset: Charset,
    pub sign_type: SignType,
}

/// Longest notification address accepted.
pub const MAX_URL_LEN: usize = 512;

/// Checks a notification address: an absolute `http` or `https` URL with a host, of bounded
/// length, without spaces or control characters. Says what is wrong, in Chinese, for the
/// answer's sub_msg.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("长度不能超过{MAX_URL_LEN}"));
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("必须是 http 或 https 的绝对地址，收到 {url}"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    if name.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("不是合法的地址：{url}"));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    #[test]
    fn notify_urls_are_absolute_http_addresses() {
        for good in [
            "http://127.0.0.1:9/n",
            "https://merchant.example/notify?x=1",
            "http://a",
        ] {
            assert_eq!(super::check_url(good), Ok(()), "{good}");
        }
        let long = format!("http://a/{}", "x".repeat(600));
        for bad in [
            "javascript:alert(1)",
            "/relative",
            "ftp://a/b",
            "http://",
            "http:///x",
            "http://a b/",
            &long,
        ] {
            assert!(super::check_url(bad).is_err(), "{bad}");
        }
    }
}
