//! What the console refuses before any page or API route runs: a `Host` that is not the
//! console's own address (DNS rebinding), a state-changing API request a cross-site page could
//! have made (not JSON, or authorised by the cookie alone without a matching `Origin`), and
//! login guesses faster than a growing delay allows. Every answer carries the security
//! headers (a Content-Security-Policy with no inline script, no framing, no sniffing, no
//! referrer).

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The headers every console answer carries.
pub fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    r
}

/// The `Host` values the console answers to: its address, and `localhost` with its port when
/// it listens on loopback. A console on an unspecified address (`0.0.0.0`) was exposed on
/// purpose and answers to any name with its port.
pub fn host_allowed(addr: SocketAddr, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = host.trim().to_ascii_lowercase();
    let port = addr.port();
    if addr.ip().is_unspecified() {
        return host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p == port.to_string());
    }
    let own = match addr {
        SocketAddr::V4(a) => format!("{}:{port}", a.ip()),
        SocketAddr::V6(a) => format!("[{}]:{port}", a.ip()),
    };
    host == own || (addr.ip().is_loopback() && host == format!("localhost:{port}"))
}

/// Whether a request changes state (and so must prove it is not a cross-site form post).
pub fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A state-changing API request must be JSON (no HTML form can send that without the page's
/// own script) and carry the bearer token, or come from a page of the console itself (an
/// `Origin` equal to `http://` and the `Host`). `None` when it may run, else why not.
pub fn cross_site(headers: &HeaderMap, bearer: bool) -> Option<&'static str> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Some("a request that changes something must be Content-Type: application/json");
    }
    if bearer {
        return None;
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(&format!("http://{h}")) => None,
        _ => Some(
            "a request that changes something must come from the console's own page (Origin) or carry Authorization: Bearer",
        ),
    }
}

pub fn forbidden(why: &str) -> Response {
    let body = serde_json::json!({ "error": why }).to_string();
    let mut r = (StatusCode::FORBIDDEN, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Failed logins in a row: each failure doubles the wait before the next attempt is
/// answered (from 200 ms to 5 s); a success starts again.
#[derive(Default)]
pub struct Logins(Mutex<u32>);

impl Logins {
    /// How long to hold this attempt back.
    pub fn delay(&self) -> Duration {
        let failures = *self.0.lock().expect("login lock");
        if failures == 0 {
            Duration::ZERO
        } else {
            Duration::from_millis((100u64 << failures.min(6)).min(5_000))
        }
    }

    pub fn record(&self, ok: bool) {
        let mut failures = self.0.lock().expect("login lock");
        *failures = if ok { 0 } else { failures.saturating_add(1) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn only_the_consoles_own_host_is_answered() {
        let addr: SocketAddr = "127.0.0.1:8081".parse().unwrap();
        let ok = |host: &str| host_allowed(addr, &with(&[(header::HOST, host)]));
        assert!(ok("127.0.0.1:8081") && ok("localhost:8081"));
        assert!(!ok("evil.example:8081") && !ok("127.0.0.1:9999") && !ok("127.0.0.1"));
        assert!(!host_allowed(addr, &HeaderMap::new()));
        let any: SocketAddr = "0.0.0.0:8081".parse().unwrap();
        assert!(host_allowed(
            any,
            &with(&[(header::HOST, "console.lan:8081")])
        ));
    }

    #[test]
    fn a_cross_site_write_is_told_apart() {
        let json = (header::CONTENT_TYPE, "application/json");
        let host = (header::HOST, "127.0.0.1:8081");
        assert!(
            cross_site(&with(std::slice::from_ref(&json)), true).is_none(),
            "bearer and JSON"
        );
        assert!(cross_site(&with(&[(header::CONTENT_TYPE, "text/plain")]), true).is_some());
        assert!(
            cross_site(&with(&[json.clone(), host.clone()]), false).is_some(),
            "no Origin"
        );
        let same = (header::ORIGIN, "http://127.0.0.1:8081");
        assert!(cross_site(&with(&[json.clone(), host.clone(), same]), false).is_none());
        let other = (header::ORIGIN, "http://127.0.0.1:8000");
        assert!(cross_site(&with(&[json, host, other]), false).is_some());
    }

    #[test]
    fn failed_logins_wait_longer_each_time() {
        let l = Logins::default();
        assert_eq!(l.delay(), Duration::ZERO);
        l.record(false);
        assert_eq!(l.delay(), Duration::from_millis(200));
        l.record(false);
        assert_eq!(l.delay(), Duration::from_millis(400));
        for _ in 0..10 {
            l.record(false);
        }
        assert_eq!(l.delay(), Duration::from_secs(5));
        l.record(true);
        assert_eq!(l.delay(), Duration::ZERO);
    }
}
