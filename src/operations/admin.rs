//! The operator's commands: tenants, keys, items, orders, tokens and console actions on
//! tickets. Each checks its input, then writes in one transaction.

use serde_json::{Map, Value, json};

use super::{Acting, App, OpError, now_ms};
use crate::alipay::money::Cents;
use crate::alipay::{Charset, PrivateKey, PublicKey, SignType};
use crate::ids;
use crate::ledger::fields::Biz;
use crate::ledger::{Channel, CodeType, Item, Ticket, Trans, TransKind, query};
use crate::store::{AppRecord, Store, StoreError};

/// Why an admin command did nothing.
#[derive(Debug)]
pub enum AdminError {
    /// An argument is wrong; the text says which and why.
    Invalid(String),
    /// The thing to create exists already.
    Duplicate(String),
    /// A thing named does not exist.
    NotFound(String),
    /// The ledger refused a console action.
    Refused {
        sub_code: String,
        sub_msg: String,
    },
    Store(StoreError),
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::Invalid(why) => write!(f, "invalid argument: {why}"),
            AdminError::Duplicate(what) => write!(f, "already exists: {what}"),
            AdminError::NotFound(what) => write!(f, "not found: {what}"),
            AdminError::Refused { sub_code, sub_msg } => write!(f, "refused: {sub_code} {sub_msg}"),
            AdminError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AdminError {}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::Store(e)
    }
}

impl From<OpError> for AdminError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Refused(r) => AdminError::Refused {
                sub_code: r.sub_code().to_string(),
                sub_msg: r.sub_msg(),
            },
            OpError::Store(e) => AdminError::Store(e),
        }
    }
}

type Result<T> = std::result::Result<T, AdminError>;

fn invalid<T>(why: impl Into<String>) -> Result<T> {
    Err(AdminError::Invalid(why.into()))
}

/// A merchant PID: 16 digits starting with 2088.
pub fn check_pid(pid: &str) -> Result<()> {
    if pid.len() == 16 && pid.starts_with("2088") && pid.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        invalid(format!(
            "merchant PID must be 16 digits starting with 2088, got {pid:?}"
        ))
    }
}

fn check_id(what: &str, id: &str, max: usize) -> Result<()> {
    let visible = id
        .chars()
        .all(|c| !c.is_whitespace() && !c.is_control() && c != ',');
    if id.is_empty() || id.chars().count() > max || !visible {
        invalid(format!(
            "{what} must be 1 to {max} characters without spaces or commas, got {id:?}"
        ))
    } else {
        Ok(())
    }
}

/// The platform ("Alipay") key pair: read from the store, created on first use.
pub async fn platform_key(store: &Store) -> Result<PrivateKey> {
    let read = |store: Store| async move {
        store
            .read(|c| Box::pin(async move { c.platform_key().await }))
            .await
    };
    if let Some((private, _)) = read(store.clone()).await? {
        return Ok(
            PrivateKey::from_text(&private).expect("the stored platform key is one we wrote")
        );
    }
    let key = PrivateKey::generate();
    let (private, public) = (key.to_pkcs1_pem(), key.public_key().to_pem());
    store
        .write(move |c| {
            let (private, public) = (private.clone(), public.clone());
            Box::pin(async move { c.insert_platform_key(&private, &public, now_ms()).await })
        })
        .await?;
    // Another process may have won the race: whatever is stored is the key.
    let (private, _) = read(store.clone())
        .await?
        .expect("a platform key was just stored");
    Ok(PrivateKey::from_text(&private).expect("the stored platform key is one we wrote"))
}

pub async fn add_merchant(store: &Store, pid: &str, name: &str) -> Result<Value> {
    check_pid(pid)?;
    let (p, n) = (pid.to_string(), name.to_string());
    let created = store
        .write(move |c| {
            let (p, n) = (p.clone(), n.clone());
            Box::pin(async move { c.insert_merchant(&p, &n, now_ms()).await })
        })
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

pub async fn add_app(store: &Store, new: NewApp) -> Result<Value> {
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
    if let Some(url) = &new.notify_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return invalid(format!(
            "notify URL must be http:// or https://, got {url:?}"
        ));
    }
    let record = AppRecord {
        app_id: new.app_id.clone(),
        merchant_pid: new.merchant_pid.clone(),
        public_key_pem: key.to_pem(),
        sign_type: sign_type.name().into(),
        charset: charset.name().into(),
        notify_url: new.notify_url.clone(),
    };
    let r = record.clone();
    let outcome = store
        .write(move |c| {
            let r = r.clone();
            Box::pin(async move {
                if !c.merchant_exists(&r.merchant_pid).await? {
                    return Ok(Err(AdminError::NotFound(format!(
                        "merchant {}",
                        r.merchant_pid
                    ))));
                }
                if !c.insert_app(&r, now_ms()).await? {
                    return Ok(Err(AdminError::Duplicate(format!("app {}", r.app_id))));
                }
                Ok(Ok(()))
            })
        })
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
    store: &Store,
    merchant_pid: &str,
    shop_id: &str,
    name: &str,
) -> Result<Value> {
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
        .write(move |c| {
            let (m, s, n) = (m.clone(), s.clone(), n.clone());
            Box::pin(async move {
                if !c.merchant_exists(&m).await? {
                    return Ok(Err(AdminError::NotFound(format!("merchant {m}"))));
                }
                if !c.insert_shop(&m, &s, &n, now_ms()).await? {
                    return Ok(Err(AdminError::Duplicate(format!(
                        "shop {s} of merchant {m}"
                    ))));
                }
                Ok(Ok(()))
            })
        })
        .await?;
    outcome?;
    Ok(json!({"merchant_pid": merchant_pid, "shop_id": shop_id, "name": name}))
}

/// A new item, as the operator types it.
pub struct NewItem {
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
}

pub async fn add_item(store: &Store, new: NewItem) -> Result<Value> {
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
    let outcome = store
        .write(move |c| {
            let it = it.clone();
            Box::pin(async move {
                if !c.merchant_exists(&it.merchant_pid).await? {
                    return Ok(Err(AdminError::NotFound(format!(
                        "merchant {}",
                        it.merchant_pid
                    ))));
                }
                if let Some(shops) = &it.shop_ids {
                    for s in shops {
                        if c.shop_name(&it.merchant_pid, s).await?.is_none() {
                            return Ok(Err(AdminError::NotFound(format!(
                                "shop {s} of merchant {}",
                                it.merchant_pid
                            ))));
                        }
                    }
                }
                if !c.insert_item(&it, now_ms()).await? {
                    return Ok(Err(AdminError::Duplicate(format!("item {}", it.item_id))));
                }
                Ok(Ok(()))
            })
        })
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

const ONE_YEAR_MS: i64 = 365 * 86_400_000;

/// Issues an order of `count` tickets with fresh internal codes, or registers the merchant's
/// own `codes` (external) under `order_no`.
pub async fn issue_order(
    store: &Store,
    item_id: &str,
    count: usize,
    order_no: Option<String>,
    external_codes: Option<Vec<String>>,
) -> Result<Value> {
    if let Some(codes) = &external_codes {
        if codes.is_empty() {
            return invalid("at least one --code is needed");
        }
        for code in codes {
            check_id("external code", code, 32)?;
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != codes.len() {
            return invalid("the same --code is given twice");
        }
    } else if !(1..=100).contains(&count) {
        return invalid(format!("--tickets must be 1 to 100, got {count}"));
    }
    if let Some(no) = &order_no
        && (no.is_empty() || no.len() > 32 || !no.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return invalid(format!(
            "order number must be 1 to 32 letters and digits, got {no:?}"
        ));
    }
    let item_id = item_id.to_string();

    store
        .write(move |c| {
            let (item_id, order_no, codes) =
                (item_id.clone(), order_no.clone(), external_codes.clone());
            Box::pin(async move {
                let now = now_ms();
                let Some(item) = c.item(&item_id).await? else {
                    return Ok(Err(AdminError::NotFound(format!("item {item_id}"))));
                };
                let order_no = order_no.unwrap_or_else(|| ids::dated(now, 18));
                match c.order_item(&order_no).await? {
                    Some(existing) if existing != item.item_id => {
                        return Ok(Err(AdminError::Duplicate(format!(
                            "order {order_no} (for item {existing})"
                        ))));
                    }
                    Some(_) if codes.is_none() => {
                        return Ok(Err(AdminError::Duplicate(format!("order {order_no}"))));
                    }
                    Some(_) => {}
                    None => {
                        c.insert_order(&order_no, &item.merchant_pid, &item.item_id, now)
                            .await?;
                    }
                }
                let effect_at = item.valid_from.unwrap_or(now);
                let expire_at = item.valid_to.unwrap_or(effect_at + ONE_YEAR_MS);
                let total = item.times.unwrap_or(1);
                let (code_type, wanted) = match &codes {
                    Some(codes) => (CodeType::External, codes.clone()),
                    None => (
                        CodeType::Internal,
                        (0..count).map(|_| String::new()).collect(),
                    ),
                };
                let mut issued = Vec::new();
                for wanted_code in wanted {
                    let mut ticket = Ticket {
                        voucher_id: ids::dated(now, 10),
                        code: wanted_code,
                        code_type,
                        order_no: order_no.clone(),
                        merchant_pid: item.merchant_pid.clone(),
                        item_id: item.item_id.clone(),
                        total_quantity: total,
                        available_quantity: total,
                        refunded: false,
                        effect_at,
                        expire_at,
                    };
                    let mut attempts = 0;
                    loop {
                        if code_type == CodeType::Internal {
                            ticket.code = ids::ticket_code();
                        }
                        if c.insert_ticket(&ticket, now).await? {
                            break;
                        }
                        attempts += 1;
                        if code_type == CodeType::External {
                            return Ok(Err(AdminError::Duplicate(format!(
                                "code {} in order {order_no}",
                                ticket.code
                            ))));
                        }
                        if attempts >= 20 {
                            return Err(StoreError::Conflict("tickets.code"));
                        }
                    }
                    issued.push(ticket.code);
                }
                Ok(Ok(json!({"order_no": order_no, "tickets": issued})))
            })
        })
        .await?
}

pub async fn grant_token(store: &Store, app_id: &str, merchant_pid: &str) -> Result<Value> {
    check_pid(merchant_pid)?;
    let (a, m) = (app_id.to_string(), merchant_pid.to_string());
    let outcome = store
        .write(move |c| {
            let (a, m) = (a.clone(), m.clone());
            Box::pin(async move {
                if c.app(&a).await?.is_none() {
                    return Ok(Err(AdminError::NotFound(format!("app {a}"))));
                }
                if !c.merchant_exists(&m).await? {
                    return Ok(Err(AdminError::NotFound(format!("merchant {m}"))));
                }
                let token = format!(
                    "{}{}",
                    crate::alipay::time::compact(now_ms())[..8].to_owned(),
                    ids::hex(32)
                );
                c.insert_token(&token, &a, &m, now_ms()).await?;
                Ok(Ok(token))
            })
        })
        .await?;
    let token = outcome?;
    Ok(json!({"app_auth_token": token, "app_id": app_id, "merchant_pid": merchant_pid}))
}

fn code_type_of(order_no: &Option<String>) -> CodeType {
    if order_no.is_some() {
        CodeType::External
    } else {
        CodeType::Internal
    }
}

/// The ticket as the store has it, with its status and every transaction.
pub async fn ticket_show(store: &Store, code: &str, order_no: Option<String>) -> Result<Value> {
    let code = code.to_string();

    store
        .read(move |c| {
            let (code, order_no) = (code.clone(), order_no.clone());
            Box::pin(async move {
                let Some(view) = c
                    .ticket(code_type_of(&order_no), &code, order_no.as_deref(), false)
                    .await?
                else {
                    return Ok(Err(AdminError::NotFound(format!("ticket {code}"))));
                };
                let trans = c.ticket_trans(&view.ticket.voucher_id).await?;
                let mut node = query::answer(&view, None, &trans, now_ms());
                node.insert(
                    "merchant_pid".into(),
                    view.ticket.merchant_pid.clone().into(),
                );
                node.insert("code_type".into(), view.ticket.code_type.name().into());
                node.insert("refunded".into(), view.ticket.refunded.into());
                Ok(Ok(Value::Object(node)))
            })
        })
        .await?
}

/// The merchant that owns a ticket (console actions act as it).
async fn owner(store: &Store, code: &str, order_no: &Option<String>) -> Result<String> {
    let (code, order_no) = (code.to_string(), order_no.clone());
    let owner = store
        .read(move |c| {
            let (code, order_no) = (code.clone(), order_no.clone());
            Box::pin(async move {
                let view = c
                    .ticket(code_type_of(&order_no), &code, order_no.as_deref(), false)
                    .await?;
                Ok(view.map(|v| v.ticket.merchant_pid))
            })
        })
        .await?;
    owner.ok_or_else(|| AdminError::NotFound("ticket".into()))
}

/// A use through the merchant console: the same rules, another channel.
pub async fn ticket_use(
    app: &App,
    code: &str,
    order_no: Option<String>,
    shop_id: &str,
    quantity: Option<i64>,
    request_id: Option<String>,
) -> Result<Value> {
    let merchant_pid = owner(&app.store, code, &order_no).await?;
    let request_id = request_id.unwrap_or_else(|| ids::dated(now_ms(), 10));
    let mut biz = Map::new();
    biz.insert("request_id".into(), request_id.clone().into());
    biz.insert("ticket_code".into(), code.into());
    biz.insert("shop_id".into(), shop_id.into());
    biz.insert("code_type".into(), code_type_of(&order_no).name().into());
    if let Some(no) = &order_no {
        biz.insert("order_no".into(), no.clone().into());
    }
    if let Some(q) = quantity {
        biz.insert("quantity".into(), q.to_string().into());
    }
    let biz = Biz::parse(&Value::Object(biz).to_string()).expect("a JSON object we built");
    let who = Acting {
        app_id: String::new(),
        merchant_pid,
        via_token: false,
    };
    let mut answer = super::use_::run(app, &who, &biz, Channel::MerchantConsole, None).await?;
    answer.insert("channel".into(), Channel::MerchantConsole.name().into());
    Ok(Value::Object(answer))
}

/// Refunds a ticket: a REFUND transaction takes what remains, and the ticket is `REFUNDED`.
pub async fn ticket_refund(store: &Store, code: &str, order_no: Option<String>) -> Result<Value> {
    let code = code.to_string();

    store
        .write(move |c| {
            let (code, order_no) = (code.clone(), order_no.clone());
            Box::pin(async move {
                let now = now_ms();
                let Some(view) = c
                    .ticket(code_type_of(&order_no), &code, order_no.as_deref(), true)
                    .await?
                else {
                    return Ok(Err(AdminError::NotFound(format!("ticket {code}"))));
                };
                let t = view.ticket;
                if t.refunded {
                    return Ok(Err(AdminError::Duplicate(format!(
                        "refund of ticket {code}"
                    ))));
                }
                let trans_id = ids::dated(now, 10);
                c.insert_trans(&Trans {
                    trans_id: trans_id.clone(),
                    voucher_id: t.voucher_id.clone(),
                    kind: TransKind::Refund,
                    quantity: t.available_quantity,
                    use_order_id: None,
                    reverses_trans_id: None,
                    created_at: now,
                })
                .await?;
                c.mark_refunded(&t.voucher_id, now).await?;
                Ok(Ok(json!({
                    "ticket_code": t.code,
                    "ticket_status": "REFUNDED",
                    "ticket_trans_id": trans_id,
                    "refunded_quantity": t.available_quantity.to_string(),
                })))
            })
        })
        .await?
}

/// Notifications, oldest first, optionally of one status.
pub async fn notify_list(store: &Store, status: Option<String>) -> Result<Value> {
    let rows = store
        .read(move |c| {
            let status = status.clone();
            Box::pin(async move { c.notifications(status.as_deref()).await })
        })
        .await?;
    let list: Vec<Value> = rows
        .into_iter()
        .map(|n| {
            let pending = n.status == "pending";
            json!({
                "notify_id": n.notify_id,
                "status": n.status,
                "attempts": n.attempts,
                "url": n.url,
                "biz_type": n.biz_type,
                "request_id": n.request_id,
                "last_error": n.last_error,
                "next_attempt_at": pending.then(|| crate::alipay::time::format(n.next_attempt_at)),
            })
        })
        .collect();
    Ok(json!({ "notifications": list }))
}

/// Queues a parked or delivered notification again, due now, with a fresh schedule.
pub async fn notify_resend(store: &Store, notify_id: &str) -> Result<Value> {
    let id = notify_id.to_string();
    let outcome = store
        .write(move |c| {
            let id = id.clone();
            Box::pin(async move {
                let Some(row) = c.notification(&id).await? else {
                    return Ok(Err(AdminError::NotFound(format!("notification {id}"))));
                };
                if row.status == "pending" {
                    return Ok(Err(AdminError::Invalid(format!(
                        "notification {id} is still pending (attempt {} of its schedule)",
                        row.attempts + 1
                    ))));
                }
                c.requeue_notification(&id, now_ms()).await?;
                Ok(Ok(()))
            })
        })
        .await?;
    outcome?;
    Ok(json!({"notify_id": notify_id, "status": "pending"}))
}
