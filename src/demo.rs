//! The demo tenant: on the first start with an empty store, a merchant, an app with its own
//! key pair, a shop, a normal item, a 10-use times card and a few tickets of each, described
//! in `DATA/demo/demo.json` so that a client can call at once.

use crate::store::op;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::alipay::PrivateKey;
use crate::config::write_file;
use crate::operations::{Service, admin};

pub const MERCHANT_PID: &str = "2088000000000001";
pub const APP_ID: &str = "2021000000000001";
pub const SHOP_ID: &str = "2018000000000001";
pub const NORMAL_ITEM: &str = "2019000000000001";
pub const TIMES_CARD_ITEM: &str = "2019000000000002";

/// Creates the demo tenant if the store is empty; refreshes `demo.json`'s gateway address if
/// it exists. Returns the path of `demo.json` when there is a demo tenant.
pub async fn ensure(
    svc: &Service,
    data: &Path,
    gateway: &str,
    json_logs: bool,
) -> anyhow::Result<Option<PathBuf>> {
    let dir = std::fs::canonicalize(data)?.join("demo");
    let path = dir.join("demo.json");
    let empty = !svc
        .store
        .read(op!(|tx| -> bool { tx.any_merchant().await }))
        .await?;
    if empty {
        create(svc, &dir, gateway).await?;
    } else if let Ok(text) = std::fs::read_to_string(&path) {
        let mut demo: Value = serde_json::from_str(&text)?;
        if demo["gateway"] != gateway {
            demo["gateway"] = gateway.into();
            write_file(&path, &serde_json::to_string_pretty(&demo)?, false)?;
        }
    } else {
        return Ok(None);
    }
    let demo: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    if json_logs {
        // Log collectors get one JSON line, with the command as a field.
        tracing::info!(command = %call_line(&demo).lines().nth(1).unwrap_or_default().trim(), "demo tenant ready");
    } else {
        // Never `eprintln!`: a node whose stderr was closed (its parent gone) must not panic.
        let _ = writeln!(std::io::stderr(), "{}", call_line(&demo));
    }
    Ok(Some(path))
}

/// After `admin reset`: the demo tenant again, at once (a running node serves it from its next
/// call), with the same app id and key pair as before and the gateway address it had, so that
/// an SDK configured once keeps working. `None` when there was no demo tenant.
pub async fn recreate(svc: &Service, data: &Path) -> anyhow::Result<Option<Value>> {
    let path = data.join("demo").join("demo.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let old: Value = serde_json::from_str(&text)?;
    let gateway = old["gateway"].as_str().unwrap_or_default().to_string();
    let dir = std::fs::canonicalize(data)?.join("demo");
    create(svc, &dir, &gateway).await?;
    Ok(Some(serde_json::from_str(&std::fs::read_to_string(
        &path,
    )?)?))
}

/// The demo app's key pair: the one in `dir` if there is one (a reset keeps what clients hold),
/// else a new one.
fn demo_app_key(dir: &Path) -> PrivateKey {
    std::fs::read_to_string(dir.join("app_private_key.pem"))
        .ok()
        .and_then(|text| PrivateKey::from_text(&text).ok())
        .unwrap_or_else(PrivateKey::generate)
}

async fn create(svc: &Service, dir: &Path, gateway: &str) -> anyhow::Result<()> {
    let app_key = demo_app_key(dir);
    let private_path = dir.join("app_private_key.pem");
    let public_path = dir.join("app_public_key.pem");
    let alipay_path = dir.join("alipay_public_key.pem");
    write_file(&private_path, &app_key.to_pkcs1_pem(), true)?;
    write_file(&public_path, &app_key.public_key().to_pem(), false)?;
    write_file(&alipay_path, &svc.platform_key.public_key().to_pem(), false)?;
    admin::add_merchant(svc, MERCHANT_PID, "ticketgate 演示商户").await?;
    admin::add_app(
        svc,
        admin::NewApp {
            app_id: APP_ID.into(),
            merchant_pid: MERCHANT_PID.into(),
            public_key: app_key.public_key().to_pem(),
            sign_type: "RSA2".into(),
            charset: "utf-8".into(),
            notify_url: None,
        },
    )
    .await?;
    admin::add_shop(svc, MERCHANT_PID, SHOP_ID, "演示门店（人民广场店）").await?;
    let item = |item_id: &str, name: &str, price: &str, original: &str, times: Option<i64>| {
        admin::NewItem {
            merchant_pid: MERCHANT_PID.into(),
            item_id: item_id.into(),
            name: name.into(),
            price: price.into(),
            original_price: Some(original.into()),
            alias: None,
            times,
            shops: None,
            valid_from: None,
            valid_to: None,
            code_merchant: None,
        }
    };
    admin::add_item(svc, item(NORMAL_ITEM, "双人套餐", "88.00", "128.00", None)).await?;
    admin::add_item(
        svc,
        item(TIMES_CARD_ITEM, "游泳十次卡", "300.00", "500.00", Some(10)),
    )
    .await?;
    let normal = admin::issue_order(svc, NORMAL_ITEM, 5, None, None).await?;
    let mut cards = Vec::new();
    for _ in 0..2 {
        let order = admin::issue_order(svc, TIMES_CARD_ITEM, 1, None, None).await?;
        cards.extend(order["tickets"].as_array().cloned().unwrap_or_default());
    }
    let demo = json!({
        "gateway": gateway,
        "app_id": APP_ID,
        "sign_type": "RSA2",
        "charset": "utf-8",
        "merchant_pid": MERCHANT_PID,
        "shop_id": SHOP_ID,
        "app_private_key_file": private_path,
        "app_public_key_file": public_path,
        "alipay_public_key_file": alipay_path,
        "tickets": {"normal": normal["tickets"], "times_card": cards},
    });
    write_file(
        &dir.join("demo.json"),
        &serde_json::to_string_pretty(&demo)?,
        false,
    )?;
    tracing::info!(dir = %dir.display(), "created the demo tenant");
    Ok(())
}

/// A ready-to-paste `ticketgate call` that queries the first demo ticket.
fn call_line(demo: &Value) -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "ticketgate".into());
    let s = |key: &str| demo[key].as_str().unwrap_or_default().to_string();
    let ticket = demo["tickets"]["normal"][0].as_str().unwrap_or_default();
    format!(
        "Demo tenant ready. Try:\n  {exe} call koubei.trade.ticket.ticketcode.query '{{\"ticket_code\":\"{ticket}\",\"shop_id\":\"{}\"}}' --gateway {} --app-id {} --private-key {} --alipay-public-key {}",
        s("shop_id"),
        s("gateway"),
        s("app_id"),
        s("app_private_key_file"),
        s("alipay_public_key_file"),
    )
}
