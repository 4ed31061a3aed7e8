//! Fixtures (a whole tenant from one JSON file), `… list`, and `reset`.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::tenants::{NewApp, NewItem, add_app, add_item, add_merchant, add_shop};
use super::tickets::issue_order;
use super::{AdminError, Result, invalid};
use crate::alipay::PrivateKey;
use crate::operations::Service;
use crate::store::op;

/// A fixtures file. Every entry is keyed by its id: loading a file twice makes nothing the
/// second time (entries that exist are listed as `existing`, not compared).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    #[serde(default)]
    pub merchants: Vec<FixtureMerchant>,
    #[serde(default)]
    pub apps: Vec<FixtureApp>,
    #[serde(default)]
    pub shops: Vec<FixtureShop>,
    #[serde(default)]
    pub items: Vec<NewItem>,
    #[serde(default)]
    pub orders: Vec<FixtureOrder>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureMerchant {
    pub pid: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureApp {
    pub app_id: String,
    pub merchant: String,
    /// The app's public key (PEM or bare base64); absent: a key pair is generated and its
    /// private key written to the data folder.
    pub public_key: Option<String>,
    #[serde(default = "rsa2")]
    pub sign_type: String,
    #[serde(default = "utf8")]
    pub charset: String,
    pub notify_url: Option<String>,
    /// The methods it may call; absent: every method.
    pub methods: Option<Vec<String>>,
}

fn rsa2() -> String {
    "RSA2".into()
}

fn utf8() -> String {
    "utf-8".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureShop {
    pub merchant: String,
    pub shop_id: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureOrder {
    pub item: String,
    /// Required: it is what makes loading twice safe.
    pub order_no: String,
    /// How many tickets with generated codes (default 1).
    pub tickets: Option<usize>,
    /// The merchant's own codes instead (EXTERNAL_CODE).
    pub codes: Option<Vec<String>>,
}

/// Codes printed per order; the rest are a `ticket list --order` away.
const CODES_SHOWN: usize = 10;

/// What a load made and what was there already, per kind.
#[derive(Default)]
struct Report {
    made: Map<String, Value>,
    existing: Map<String, Value>,
}

impl Report {
    fn push(&mut self, kind: &str, made: bool, what: Value) {
        let side = if made {
            &mut self.made
        } else {
            &mut self.existing
        };
        side.entry(kind)
            .or_insert_with(|| Value::Array(Vec::new()))
            .as_array_mut()
            .expect("a list")
            .push(what);
    }

    /// `Ok(true)` made, `Ok(false)` there already, else the error.
    fn outcome(result: Result<Value>) -> Result<Option<Value>> {
        match result {
            Ok(v) => Ok(Some(v)),
            Err(AdminError::Duplicate(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Loads a fixtures file: merchants, apps (generating key pairs where no key is given; the
/// private keys go to `keys_dir`), shops, items and orders, in that order. Stops at the first
/// entry that is wrong, saying which; what was made before it stays (loading again after the
/// fix makes the rest).
pub async fn fixtures_load(svc: &Service, text: &str, keys_dir: &Path) -> Result<Value> {
    let fixtures: Fixtures = serde_json::from_str(text)
        .map_err(|e| AdminError::Invalid(format!("fixtures file: {e}")))?;
    let started = std::time::Instant::now();
    let mut report = Report::default();
    let mut keys = Map::new();
    let at = |kind: &str, i: usize, e: AdminError| match e {
        AdminError::Invalid(why) => AdminError::Invalid(format!("{kind}[{i}]: {why}")),
        AdminError::NotFound(what) => AdminError::NotFound(format!("{what} (in {kind}[{i}])")),
        other => other,
    };
    for (i, m) in fixtures.merchants.iter().enumerate() {
        let done = Report::outcome(add_merchant(svc, &m.pid, &m.name).await)
            .map_err(|e| at("merchants", i, e))?;
        report.push("merchants", done.is_some(), m.pid.clone().into());
    }
    for (i, a) in fixtures.apps.iter().enumerate() {
        let (public_key, private) = match &a.public_key {
            Some(key) => (key.clone(), None),
            None => {
                let key = PrivateKey::generate();
                (key.public_key().to_pem(), Some(key))
            }
        };
        let new = NewApp {
            app_id: a.app_id.clone(),
            merchant_pid: a.merchant.clone(),
            public_key,
            sign_type: a.sign_type.clone(),
            charset: a.charset.clone(),
            notify_url: a.notify_url.clone(),
        };
        if let Some(list) = &a.methods {
            super::tenants::check_methods(list).map_err(|e| at("apps", i, e))?;
        }
        let done = Report::outcome(add_app(svc, new).await).map_err(|e| at("apps", i, e))?;
        if let (Some(_), Some(list)) = (&done, &a.methods) {
            super::tenants::set_app_methods(svc, &a.app_id, list)
                .await
                .map_err(|e| at("apps", i, e))?;
        }
        if let (Some(_), Some(key)) = (&done, private) {
            let path = keys_dir.join(format!("{}_private_key.pem", a.app_id));
            crate::config::write_file(&path, &key.to_pkcs1_pem(), true).map_err(|e| {
                AdminError::Invalid(format!("cannot write {}: {e}", path.display()))
            })?;
            keys.insert(a.app_id.clone(), path.display().to_string().into());
        }
        report.push("apps", done.is_some(), a.app_id.clone().into());
    }
    for (i, s) in fixtures.shops.iter().enumerate() {
        let done = Report::outcome(add_shop(svc, &s.merchant, &s.shop_id, &s.name).await)
            .map_err(|e| at("shops", i, e))?;
        report.push("shops", done.is_some(), s.shop_id.clone().into());
    }
    for (i, item) in fixtures.items.into_iter().enumerate() {
        let item_id = item.item_id.clone();
        let done = Report::outcome(add_item(svc, item).await).map_err(|e| at("items", i, e))?;
        report.push("items", done.is_some(), item_id.into());
    }
    let mut tickets = 0usize;
    for (i, o) in fixtures.orders.iter().enumerate() {
        if o.tickets.is_some() && o.codes.is_some() {
            return Err(at(
                "orders",
                i,
                AdminError::Invalid("give tickets or codes, not both".into()),
            ));
        }
        let issued = match &o.codes {
            Some(codes) => {
                issue_order(
                    svc,
                    &o.item,
                    codes.len(),
                    Some(o.order_no.clone()),
                    Some(codes.clone()),
                )
                .await
            }
            None => {
                let n = o.tickets.unwrap_or(1);
                issue_order(svc, &o.item, n, Some(o.order_no.clone()), None).await
            }
        };
        let done = Report::outcome(issued).map_err(|e| at("orders", i, e))?;
        let summary = match &done {
            Some(answer) => {
                let codes = answer["tickets"].as_array().cloned().unwrap_or_default();
                tickets += codes.len();
                json!({
                    "order_no": o.order_no,
                    "tickets": codes.len(),
                    "first_codes": codes.into_iter().take(CODES_SHOWN).collect::<Vec<_>>(),
                })
            }
            None => o.order_no.clone().into(),
        };
        report.push("orders", done.is_some(), summary);
    }
    Ok(json!({
        "made": report.made,
        "existing": report.existing,
        "private_keys": keys,
        "tickets_issued": tickets,
        "seconds": (started.elapsed().as_millis() as f64) / 1000.0,
    }))
}

/// Empties tenants, ledger, outbox, request log, clocks and faults; keeps the platform key.
pub async fn reset(svc: &Service, yes: bool) -> Result<Value> {
    if !yes {
        return invalid(
            "reset deletes every merchant, app, ticket and notification: add --yes to do it",
        );
    }
    let counts = svc
        .store
        .write(op!(|tx| -> Vec<(&'static str, u64)> { tx.reset().await }))
        .await?;
    svc.sandbox.refresh(&svc.store).await?;
    let deleted: Map<String, Value> = counts
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(table, n)| (table.to_string(), n.into()))
        .collect();
    Ok(json!({
        "deleted": deleted,
        "kept": ["the platform key", "the sandbox CA of certificate mode"],
        "next": "a node started with its demo tenant creates it again (unless --no-demo)",
    }))
}

/// What `admin … list` shows.
#[derive(Debug, Clone, Copy)]
pub enum Listing {
    Merchants,
    Apps,
    Shops,
    Items,
    Orders,
    Tickets,
}

/// Lists one kind. `of` narrows it: the merchant (apps, shops, items), the item (orders) or
/// the order (tickets, where it is required).
pub async fn list(svc: &Service, what: Listing, of: Option<String>, limit: i64) -> Result<Value> {
    let of = of.unwrap_or_default();
    if matches!(what, Listing::Tickets) && of.is_empty() {
        return invalid("ticket list needs --order");
    }
    let rows = svc
        .store
        .read(op!(|tx| [of: String = of, what: Listing = what, limit: i64 = limit] -> crate::store::Rows {
            match what {
                Listing::Merchants => tx.list_merchants().await,
                Listing::Apps => tx.list_apps(&of).await,
                Listing::Shops => tx.list_shops(&of).await,
                Listing::Items => tx.list_items(&of).await,
                Listing::Orders => tx.list_orders(&of, limit).await,
                Listing::Tickets => tx.list_tickets(&of, limit).await,
            }
        }))
        .await?;
    let times = [
        "created_at",
        "effect_at",
        "expire_at",
        "valid_from",
        "valid_to",
    ];
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|mut row| {
            for key in times {
                if let Some(ms) = row.get(key).and_then(Value::as_i64) {
                    row.insert(key.into(), crate::alipay::time::format(ms).into());
                }
            }
            for flag in ["refunded", "both_sign_types", "aes", "cert_mode"] {
                if let Some(v) = row.get(flag).and_then(Value::as_i64) {
                    row.insert(flag.into(), (v == 1).into());
                }
            }
            Value::Object(row)
        })
        .collect();
    let name = match what {
        Listing::Merchants => "merchants",
        Listing::Apps => "apps",
        Listing::Shops => "shops",
        Listing::Items => "items",
        Listing::Orders => "orders",
        Listing::Tickets => "tickets",
    };
    Ok(json!({ name: rows }))
}
