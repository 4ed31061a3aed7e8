//! `serve --ephemeral`: a throwaway node for a test suite — a store in a temporary folder, a
//! free address (port 80 on a free 127.x.y.z when it can be bound: the official Python SDK
//! cannot take a port), and one JSON line on stdout with everything a client needs.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::alipay::{PrivateKey, PublicKey};
use crate::server::Running;

/// A new, empty folder of our own under the system's temporary folder.
pub fn folder() -> anyhow::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("ticketgate-ephemeral-{}", crate::ids::hex(8)));
    std::fs::create_dir(&path)?;
    Ok(path)
}

/// Port 80 on a free loopback address if this process may bind it; otherwise a free port.
pub fn address() -> String {
    for _ in 0..8 {
        let [a, b, c] = loopback_octets();
        let addr = format!("127.{a}.{b}.{c}:80");
        if std::net::TcpListener::bind(&addr).is_ok() {
            return addr;
        }
    }
    "127.0.0.1:0".to_string()
}

/// Three random octets of a 127/8 address, none 0 or 255 (and so never 127.0.0.1).
fn loopback_octets() -> [u8; 3] {
    let bytes = crate::ids::hex(6);
    let octet = |i: usize| {
        let n = u8::from_str_radix(&bytes[i * 2..i * 2 + 2], 16).expect("hex digits");
        n % 254 + 1
    };
    [octet(0), octet(1), octet(2)]
}

/// The body of a PEM block as one base64 line: the "bare" form several SDKs take.
fn bare(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

/// What a client needs, as one JSON object.
fn description(running: &Running, folder: &Path) -> anyhow::Result<Value> {
    let demo_path = running
        .demo
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the ephemeral node has no demo tenant"))?;
    let demo: Value = serde_json::from_str(&std::fs::read_to_string(demo_path)?)?;
    let file = |key: &str| -> anyhow::Result<String> {
        let path = demo[key].as_str().unwrap_or_default();
        Ok(std::fs::read_to_string(path)?)
    };
    let app_key = PrivateKey::from_text(&file("app_private_key_file")?)
        .map_err(|e| anyhow::anyhow!("the demo app's key: {e}"))?;
    let platform = PublicKey::from_text(&file("alipay_public_key_file")?)
        .map_err(|e| anyhow::anyhow!("the platform key: {e}"))?;
    let addr = running.addr;
    let host = addr.ip().to_string();
    let gateway_url = if addr.port() == 80 {
        format!("http://{host}/gateway.do")
    } else {
        format!("http://{addr}/gateway.do")
    };
    let console_url = running.console_addr.map(|a| format!("http://{a}/"));
    let token = crate::console::token(folder).ok();
    Ok(json!({
        "gateway_url": gateway_url,
        "host": host,
        "port": addr.port(),
        "console_url": console_url,
        "console_token": console_url.as_ref().and(token),
        "app_id": demo["app_id"],
        "merchant_pid": demo["merchant_pid"],
        "shop_id": demo["shop_id"],
        "sign_type": demo["sign_type"],
        "charset": demo["charset"],
        "app_private_key_pem": app_key.to_pkcs1_pem(),
        "app_private_key_base64": bare(&app_key.to_pkcs1_pem()),
        "app_private_key_pkcs8_pem": app_key.to_pkcs8_pem(),
        "app_private_key_pkcs8_base64": bare(&app_key.to_pkcs8_pem()),
        "app_public_key_pem": app_key.public_key().to_pem(),
        "alipay_public_key_pem": platform.to_pem(),
        "alipay_public_key_base64": platform.to_base64(),
        "tickets": demo["tickets"],
        "items": {
            "normal": crate::demo::NORMAL_ITEM,
            "times_card": crate::demo::TIMES_CARD_ITEM,
        },
        "data": folder,
        "pid": std::process::id(),
    }))
}

/// Prints the description as the first line on stdout, flushed.
pub fn announce(running: &Running, folder: &Path) -> anyhow::Result<()> {
    let line = description(running, folder)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    if running.addr.port() != 80 {
        tracing::info!(
            "port 80 could not be bound here; the gateway is at {} (the official Python SDK cannot use a port)",
            running.addr
        );
    }
    Ok(())
}
