//! Tenants: merchants, apps, shops and items.

use serde_json::{Value, json};

use super::{AdminError, Result, check_id, check_pid, invalid};
use crate::alipay::money::Cents;
use crate::alipay::{Charset, PublicKey, SignType};
use crate::ledger::Item;
use crate::operations::Service;
use crate::store::{AppRecord, op};

pub async fn add_merchant(svc: &Service, pid: &str, name: &str) -> Result<Value> {
    let (store, now) = (&svc.store, svc.now_ms());
    check_pid(pid)?;
    let (p, n) = (pid.to_string(), name.to_string());
    let created = store
        .write(op!(|tx| [p: String = p, n: String = n, now: i64 = now] -> bool { tx.insert_merchant(&p, &n, now).await }))
        .await?;
    if !created {
        return Err(AdminError::Duplicate(format!("merchant {pid}")));
    }
    Ok(json!({"merchant_pid": pid, "name": name}))
}

/// A new app: its own public key, the sign type and charset it calls with.
pub struct NewApp {
    pub app_id: String,
    pub merchant_pid: String,
    pub public_key: String,
    pub sign_type: String,
    pub charset: String,
    pub notify_url: Option<String>,
}

/// An app as the gateway sees it, with its public key in the forms the SDKs take (one per sign
/// type it has a key for) and its AES key, if any.
pub async fn show_app(svc: &Service, app_id: &str) -> Result<Value> {
    let id = app_id.to_string();
    let found = svc
        .store
        .read(op!(|tx| [id: String = id] -> Option<AppRecord> { tx.app(&id).await }))
        .await?;
    let app = found.ok_or_else(|| AdminError::NotFound(format!("app {app_id}")))?;
    let key = PublicKey::from_text(&app.public_key_pem)
        .map_err(|e| AdminError::Invalid(format!("stored public key: {e}")))?;
    let mut keys = serde_json::Map::new();
    for sign_type in [SignType::Rsa2, SignType::Rsa] {
        if let Some(pem) = app.key_for(sign_type) {
            let k = PublicKey::from_text(pem)
                .map_err(|e| AdminError::Invalid(format!("stored public key: {e}")))?;
            keys.insert(
                sign_type.name().into(),
                json!({"public_key_pem": k.to_pem(), "public_key_base64": k.to_base64(), "bits": k.size() * 8}),
            );
        }
    }
    Ok(json!({
        "app_id": app.app_id,
        "merchant_pid": app.merchant_pid,
        "sign_type": app.sign_type,
        "charset": app.charset,
        "notify_url": app.notify_url,
        "public_key_pem": key.to_pem(),
        "public_key_base64": key.to_base64(),
        "public_key_bits": key.size() * 8,
        "keys": keys,
        "aes_key": app.aes_key,
        "app_cert_sn": app.app_cert_sn,
        "methods": app.methods.as_deref().map_or_else(
            || Value::from("all"),
            |list| list.split(',').collect::<Vec<_>>().into()
        ),
    }))
}

pub(super) async fn app_record(svc: &Service, app_id: &str) -> Result<AppRecord> {
    let id = app_id.to_string();
    svc.store
        .read(op!(|tx| [id: String = id] -> Option<AppRecord> { tx.app(&id).await }))
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("app {app_id}")))
}

/// Checks a list of methods an app may call: each one the gateway serves, or `all` alone.
pub fn check_methods(methods: &[String]) -> Result<()> {
    if methods == ["all"] {
        return Ok(());
    }
    if methods.is_empty() {
        return invalid("--methods needs at least one method, or all");
    }
    for m in methods {
        if crate::operations::methods::find(m).is_none() {
            return invalid(format!("{m:?} is not a method this gateway serves"));
        }
    }
    Ok(())
}

/// Limits an app to these methods (`all`: every method).
pub async fn set_app_methods(svc: &Service, app_id: &str, methods: &[String]) -> Result<Value> {
    check_methods(methods)?;
    let list = (methods != ["all"]).then(|| methods.join(","));
    let changed = svc
        .store
        .write(
            op!(|tx| [id: String = app_id.into(), list: Option<String> = list] -> bool {
                tx.set_app_methods(&id, list.as_deref()).await
            }),
        )
        .await?;
    if !changed {
        return Err(AdminError::NotFound(format!("app {app_id}")));
    }
    let shown: Value = match methods {
        [all] if all == "all" => "all".into(),
        _ => methods.into(),
    };
    Ok(json!({"app_id": app_id, "methods": shown}))
}

/// Sandbox: deliver every notification of the app twice (same `notify_id`), or, `on: false`,
/// once again.
pub async fn set_notify_twice(svc: &Service, app_id: &str, on: bool) -> Result<Value> {
    let changed = svc
        .store
        .write(
            op!(|tx| [id: String = app_id.into(), on: bool = on] -> bool {
                tx.set_notify_twice(&id, on).await
            }),
        )
        .await?;
    if !changed {
        return Err(AdminError::NotFound(format!("app {app_id}")));
    }
    Ok(json!({"app_id": app_id, "notify_twice": on}))
}

/// Sets an app's public key for a sign type (default: the app's own): calls signed with the
/// old key stop verifying at once. A key for the other type lets the app call in both.
pub async fn set_app_key(
    svc: &Service,
    app_id: &str,
    public_key: &str,
    sign_type: Option<SignType>,
) -> Result<Value> {
    let key = PublicKey::from_text(public_key)
        .map_err(|e| AdminError::Invalid(format!("public key: {e}")))?;
    let app = app_record(svc, app_id).await?;
    let other = sign_type.is_some_and(|t| t.name() != app.sign_type);
    let (id, pem) = (app_id.to_string(), key.to_pem());
    let changed = svc
        .store
        .write(op!(|tx| [id: String = id, pem: String = pem, other: bool = other] -> bool { tx.set_app_key(&id, Some(&pem), other).await }))
        .await?;
    if !changed {
        return Err(AdminError::NotFound(format!("app {app_id}")));
    }
    let mut shown = show_app(svc, app_id).await?;
    if app.app_cert_sn.is_some() && !other {
        // Its certificate carries the old key: the SDK's files must be made again.
        shown["note"] = format!(
            "the app is in certificate mode and its certificate holds the old key: run `ticketgate admin app cert --app-id {app_id}` and give the SDK the new files"
        )
        .into();
    }
    Ok(shown)
}

/// Removes an app's key for the sign type other than its own (its own key cannot be removed:
/// replace it, or re-register the app with the other sign type).
pub async fn remove_app_key(svc: &Service, app_id: &str, sign_type: SignType) -> Result<Value> {
    let app = app_record(svc, app_id).await?;
    if sign_type.name() == app.sign_type {
        return invalid(format!(
            "{} is the app's own sign type: its key can be replaced (app key set), not removed",
            app.sign_type
        ));
    }
    let id = app_id.to_string();
    svc.store
        .write(op!(|tx| [id: String = id] -> bool { tx.set_app_key(&id, None, true).await }))
        .await?;
    show_app(svc, app_id).await
}

/// Puts an app in certificate mode: issues it a certificate for its public key (of its own
/// sign type) from the sandbox CA, and writes the three files an SDK is configured with into
/// `dir`: `appCertPublicKey_<app>.crt`, `alipayCertPublicKey_RSA2.crt`, `alipayRootCert.crt`.
/// With `remove`, the app goes back to public-key mode.
pub async fn app_cert(
    svc: &Service,
    app_id: &str,
    dir: &std::path::Path,
    remove: bool,
) -> Result<Value> {
    let app = app_record(svc, app_id).await?;
    let id = app_id.to_string();
    if remove {
        svc.store
            .write(op!(|tx| [id: String = id] -> bool { tx.set_app_cert(&id, None).await }))
            .await?;
        return Ok(json!({"app_id": app_id, "mode": "public key"}));
    }
    let key = PublicKey::from_text(&app.public_key_pem)
        .map_err(|e| AdminError::Invalid(format!("stored public key: {e}")))?;
    let ca = svc.ca().await?;
    let cert = ca.issue(app_id, &key);
    let sn = crate::alipay::certs::cert_sn_of_pem(&cert).expect("a certificate we issued");
    let (s, c) = (sn.clone(), cert.clone());
    svc.store
        .write(op!(|tx| [id: String = id, s: String = s, c: String = c] -> bool { tx.set_app_cert(&id, Some((&s, &c))).await }))
        .await?;
    let files = [
        (format!("appCertPublicKey_{app_id}.crt"), cert),
        (
            "alipayCertPublicKey_RSA2.crt".to_string(),
            ca.platform_cert_pem(),
        ),
        ("alipayRootCert.crt".to_string(), ca.root_bundle_pem()),
    ];
    let mut written = serde_json::Map::new();
    for (name, text) in files {
        let path = dir.join(&name);
        crate::config::write_file(&path, &text, false)
            .map_err(|e| AdminError::Invalid(format!("cannot write {}: {e}", path.display())))?;
        written.insert(name, path.display().to_string().into());
    }
    Ok(json!({
        "app_id": app_id,
        "mode": "certificate",
        "app_cert_sn": sn,
        "alipay_root_cert_sn": ca.root_sn(),
        "alipay_cert_sn": ca.platform_sn(),
        "files": written,
    }))
}

/// Gives an app a new AES content-encryption key (or, with `remove`, takes it away); prints it.
pub async fn set_app_aes_key(svc: &Service, app_id: &str, remove: bool) -> Result<Value> {
    let key = (!remove).then(|| crate::alipay::aes::AesKey::generate().to_base64());
    let (id, k) = (app_id.to_string(), key.clone());
    let changed = svc
        .store
        .write(op!(|tx| [id: String = id, k: Option<String> = k] -> bool { tx.set_app_aes_key(&id, k.as_deref()).await }))
        .await?;
    if !changed {
        return Err(AdminError::NotFound(format!("app {app_id}")));
    }
    Ok(json!({"app_id": app_id, "aes_key": key}))
}

pub async fn add_app(svc: &Service, new: NewApp) -> Result<Value> {
    let (store, now) = (&svc.store, svc.now_ms());
    check_id("app id", &new.app_id, 32)?;
    check_pid(&new.merchant_pid)?;
    let key = PublicKey::from_text(&new.public_key)
        .map_err(|e| AdminError::Invalid(format!("public key: {e}")))?;
    let sign_type = SignType::parse(&new.sign_type).ok_or_else(|| {
        AdminError::Invalid(format!(
            "sign type must be RSA2 or RSA, got {:?}",
            new.sign_type
        ))
    })?;
    let charset = Charset::parse(&new.charset).ok_or_else(|| {
        AdminError::Invalid(format!(
            "charset must be utf-8, gbk or gb2312, got {:?}",
            new.charset
        ))
    })?;
    if let Some(url) = &new.notify_url {
        if crate::notify::check_url(url).is_err() {
            return invalid(format!(
                "notify URL must be an absolute http:// or https:// URL of at most {} characters, got {url:?}",
                crate::notify::MAX_URL_LEN
            ));
        }
        if let Err(why) = svc.notify_targets.check_url(url) {
            return invalid(format!("notify URL {url:?}: {why}"));
        }
    }
    let record = AppRecord {
        app_id: new.app_id.clone(),
        merchant_pid: new.merchant_pid.clone(),
        public_key_pem: key.to_pem(),
        sign_type: sign_type.name().into(),
        charset: charset.name().into(),
        notify_url: new.notify_url.clone(),
        other_public_key_pem: None,
        aes_key: None,
        app_cert_sn: None,
        methods: None,
    };
    let r = record.clone();
    let outcome = store
        .write(op!(|tx| [r: AppRecord = r, now: i64 = now] -> Result<()> {
            if !tx.merchant_exists(&r.merchant_pid).await? {
                return Ok(Err(AdminError::NotFound(format!(
                    "merchant {}",
                    r.merchant_pid
                ))));
            }
            if !tx.insert_app(&r, now).await? {
                return Ok(Err(AdminError::Duplicate(format!("app {}", r.app_id))));
            }
            Ok(Ok(()))
        }))
        .await?;
    outcome?;
    Ok(json!({
        "app_id": record.app_id,
        "merchant_pid": record.merchant_pid,
        "sign_type": record.sign_type,
        "charset": record.charset,
        "notify_url": record.notify_url,
    }))
}

pub async fn add_shop(
    svc: &Service,
    merchant_pid: &str,
    shop_id: &str,
    name: &str,
) -> Result<Value> {
    let (store, now) = (&svc.store, svc.now_ms());
    check_pid(merchant_pid)?;
    check_id("shop id", shop_id, 64)?;
    if name.trim().is_empty() {
        return invalid("shop name must not be empty");
    }
    let (m, s, n) = (
        merchant_pid.to_string(),
        shop_id.to_string(),
        name.to_string(),
    );
    let outcome = store
        .write(
            op!(|tx| [m: String = m, s: String = s, n: String = n, now: i64 = now] -> Result<()> {
                if !tx.merchant_exists(&m).await? {
                    return Ok(Err(AdminError::NotFound(format!("merchant {m}"))));
                }
                if !tx.insert_shop(&m, &s, &n, now).await? {
                    return Ok(Err(AdminError::Duplicate(format!(
                        "shop {s} of merchant {m}"
                    ))));
                }
                Ok(Ok(()))
            }),
        )
        .await?;
    outcome?;
    Ok(json!({"merchant_pid": merchant_pid, "shop_id": shop_id, "name": name}))
}

/// A new item, as the operator types it (or a fixtures file spells it, with `merchant`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    #[serde(rename = "merchant")]
    pub merchant_pid: String,
    pub item_id: String,
    pub name: String,
    pub price: String,
    pub original_price: Option<String>,
    pub alias: Option<String>,
    pub times: Option<i64>,
    pub shops: Option<Vec<String>>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    /// The app of the code merchant (码商) that issues this item's codes.
    pub code_merchant: Option<String>,
}

pub async fn add_item(svc: &Service, new: NewItem) -> Result<Value> {
    let (store, now) = (&svc.store, svc.now_ms());
    check_pid(&new.merchant_pid)?;
    check_id("item id", &new.item_id, 64)?;
    if new.name.trim().is_empty() {
        return invalid("item name must not be empty");
    }
    let yuan = |what: &str, text: &str| {
        Cents::parse_yuan(text).ok_or_else(|| {
            AdminError::Invalid(format!("{what} must be yuan like 12.50, got {text:?}"))
        })
    };
    let price = yuan("price", &new.price)?;
    let original_price = match &new.original_price {
        Some(text) => yuan("original price", text)?,
        None => price,
    };
    if let Some(times) = new.times
        && !(1..=9999).contains(&times)
    {
        return invalid(format!("times must be 1 to 9999, got {times}"));
    }
    let moment = |what: &str, text: &Option<String>| -> Result<Option<i64>> {
        match text {
            None => Ok(None),
            Some(t) => crate::alipay::time::parse(t).map(Some).ok_or_else(|| {
                AdminError::Invalid(format!(
                    "{what} must be yyyy-MM-dd[ HH:mm:ss] (GMT+8), got {t:?}"
                ))
            }),
        }
    };
    let valid_from = moment("valid from", &new.valid_from)?;
    let valid_to = moment("valid to", &new.valid_to)?;
    if let (Some(from), Some(to)) = (valid_from, valid_to)
        && to <= from
    {
        return invalid("valid-to must be after valid-from");
    }
    if let Some(shops) = &new.shops {
        if shops.is_empty() {
            return invalid("--shops needs at least one shop id");
        }
        for s in shops {
            check_id("shop id", s, 64)?;
        }
    }
    let item = Item {
        item_id: new.item_id,
        merchant_pid: new.merchant_pid,
        name: new.name,
        alias: new.alias,
        original_price,
        price,
        times: new.times,
        shop_ids: new.shops,
        valid_from,
        valid_to,
    };
    let it = item.clone();
    let code_merchant = new.code_merchant.clone();
    let outcome = store
        .write(op!(|tx| [it: Item = it, code_merchant: Option<String> = code_merchant, now: i64 = now] -> Result<()> {
                if !tx.merchant_exists(&it.merchant_pid).await? {
                    return Ok(Err(AdminError::NotFound(format!(
                        "merchant {}",
                        it.merchant_pid
                    ))));
                }
                if let Some(shops) = &it.shop_ids {
                    for s in shops {
                        if tx.shop_name(&it.merchant_pid, s).await?.is_none() {
                            return Ok(Err(AdminError::NotFound(format!(
                                "shop {s} of merchant {}",
                                it.merchant_pid
                            ))));
                        }
                    }
                }
                if let Some(app_id) = &code_merchant
                    && tx.app(app_id).await?.is_none()
                {
                    return Ok(Err(AdminError::NotFound(format!(
                        "app {app_id} (the code merchant)"
                    ))));
                }
                if !tx.insert_item(&it, now).await? {
                    return Ok(Err(AdminError::Duplicate(format!("item {}", it.item_id))));
                }
                if let Some(app_id) = &code_merchant {
                    tx.insert_code_merchant(&it.item_id, app_id, now).await?;
                }
                Ok(Ok(()))
            }))
        .await?;
    outcome?;
    Ok(json!({
        "item_id": item.item_id,
        "merchant_pid": item.merchant_pid,
        "name": item.name,
        "price": item.price.yuan(),
        "original_price": item.original_price.yuan(),
        "times": item.times,
    }))
}
