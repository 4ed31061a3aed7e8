//! `ticketgate receive`: a notification receiver for developers. It prints each notification
//! as one JSON line, verifies its signature with the platform public key (and says why when
//! it does not verify), and answers `success` — `fail` to one that does not verify (unless
//! `--accept-unverified`), or as told, to show the retry schedule,
//! duplicates and parking without writing a server.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use serde_json::{Value, json};

use crate::alipay::form;
use crate::alipay::sign::{self, NOTIFICATION};
use crate::alipay::{Charset, PublicKey, SignType, time};

/// How the receiver answers.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Answer `fail` to the first N notifications received.
    pub fail_first: u64,
    /// Answer `fail` to each notification with this probability (0 to 1).
    pub fail_rate: f64,
    /// Wait this long before answering.
    pub delay: Duration,
    /// What to answer when not failing (default `success`).
    pub answer: String,
    /// Acknowledge a notification that does not verify too (by default it is answered `fail`).
    pub accept_unverified: bool,
}

struct Receiver {
    key: PublicKey,
    behaviour: Behaviour,
    /// Notifications received so far, and how often each notify_id arrived.
    seen: Mutex<(u64, HashMap<String, u64>)>,
}

/// The router: every path and method is a notification endpoint.
pub fn router(key: PublicKey, behaviour: Behaviour) -> Router {
    let state = Arc::new(Receiver {
        key,
        behaviour,
        seen: Mutex::new((0, HashMap::new())),
    });
    Router::new().fallback(receive).with_state(state)
}

/// Why a notification does not verify, or `None` when it does.
pub fn check_signature(
    key: &PublicKey,
    params: &crate::alipay::form::Params,
    charset: Charset,
) -> Option<String> {
    let Some(sign) = params.get("sign").filter(|s| !s.is_empty()) else {
        return Some("no sign parameter".into());
    };
    let sign_type = match params.get("sign_type").map(String::as_str) {
        None | Some("") => SignType::Rsa2,
        Some(t) => match SignType::parse(t) {
            Some(t) => t,
            None => return Some(format!("unknown sign_type {t:?}")),
        },
    };
    let content = sign::content(params, NOTIFICATION);
    if key.verify(sign_type, &charset.encode(&content), sign) {
        return None;
    }
    let other = match sign_type {
        SignType::Rsa2 => SignType::Rsa,
        SignType::Rsa => SignType::Rsa2,
    };
    if key.verify(other, &charset.encode(&content), sign) {
        return Some(format!(
            "signed with {} although sign_type says {}",
            other.name(),
            sign_type.name()
        ));
    }
    Some(format!(
        "the signature does not match the string {content:?} under this platform public key \
         (another key signed it, or the parameters were changed)"
    ))
}

async fn receive(
    State(rx): State<Arc<Receiver>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> String {
    let mut pairs = form::split(uri.query().unwrap_or("").as_bytes());
    pairs.extend(form::split(&body));
    let charset = form::find_charset(&pairs)
        .and_then(|c| Charset::parse(&c))
        .unwrap_or(Charset::Utf8);
    let (params, undecodable) = match form::decode(&pairs, charset) {
        Ok(p) => (p, None),
        Err(bad) => (
            form::decode_lossy(&pairs),
            Some(format!("{} is not {}", bad.key, charset.name())),
        ),
    };
    let why = undecodable.or_else(|| check_signature(&rx.key, &params, charset));
    let notify_id = params.get("notify_id").cloned().unwrap_or_default();
    let (number, attempt) = {
        let mut seen = rx.seen.lock().expect("receiver lock");
        let (count, ids) = &mut *seen;
        if ids.len() >= 100_000 {
            ids.clear(); // bounded: "duplicate" looks back this far
        }
        *count += 1;
        let n = ids.entry(notify_id.clone()).or_insert(0);
        *n += 1;
        (*count, *n)
    };
    let b = &rx.behaviour;
    let fail = number <= b.fail_first
        || (b.fail_rate > 0.0 && random_unit() < b.fail_rate)
        || (why.is_some() && !b.accept_unverified);
    let answer = if fail {
        "fail".to_string()
    } else {
        b.answer.clone()
    };
    let line = json!({
        "received_at": time::format_ms(crate::clock::system_now_ms()),
        "method": method.as_str(),
        "path": uri.path(),
        "content_type": headers.get("content-type").and_then(|v| v.to_str().ok()),
        "notify_id": notify_id,
        "notify_type": params.get("notify_type"),
        "attempt": attempt,
        "duplicate": attempt > 1,
        "verified": why.is_none(),
        "why_unverified": why,
        "params": Value::Object(params.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()),
        "answer": answer,
    });
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    if !b.delay.is_zero() {
        tokio::time::sleep(b.delay).await;
    }
    answer
}

/// A uniform number in [0, 1).
fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    openssl::rand::rand_bytes(&mut bytes).expect("the system random source is available");
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// Serves until interrupted.
pub async fn run(listen: &str, key: PublicKey, behaviour: Behaviour) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    eprintln!("ticketgate receive: notifications to http://{addr}/ (any path); one JSON line each");
    axum::serve(listener, router(key, behaviour))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alipay::PrivateKey;
    use crate::alipay::form::Params;

    #[test]
    fn a_signed_notification_verifies_and_a_changed_one_says_why() {
        let key = PrivateKey::generate();
        let mut params = Params::new();
        params.insert("notify_id".into(), "n1".into());
        params.insert("ticket_code".into(), "123456789012".into());
        params.insert("sign_type".into(), "RSA2".into());
        let content = sign::content(&params, NOTIFICATION);
        params.insert("sign".into(), key.sign(SignType::Rsa2, content.as_bytes()));
        assert_eq!(
            check_signature(&key.public_key(), &params, Charset::Utf8),
            None
        );
        params.insert("ticket_code".into(), "999999999999".into());
        let why = check_signature(&key.public_key(), &params, Charset::Utf8).unwrap();
        assert!(why.contains("does not match"), "{why}");
        params.insert("sign_type".into(), "RSA".into());
        params.insert("ticket_code".into(), "123456789012".into());
        let why = check_signature(&key.public_key(), &params, Charset::Utf8).unwrap();
        assert!(why.contains("signed with RSA2"), "{why}");
        let other = PrivateKey::generate().public_key();
        params.insert("sign_type".into(), "RSA2".into());
        assert!(check_signature(&other, &params, Charset::Utf8).is_some());
        params.remove("sign");
        assert_eq!(
            check_signature(&key.public_key(), &params, Charset::Utf8).as_deref(),
            Some("no sign parameter")
        );
    }

    #[test]
    fn random_units_are_in_range() {
        for _ in 0..1000 {
            let x = random_unit();
            assert!((0.0..1.0).contains(&x));
        }
    }
}
